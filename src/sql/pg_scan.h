/* One pass of PostgreSQL's own scanner (libpg_query's copy of it, the one its parser uses)
 * over a text, token by token. Plain C, like pg_node_types.h: the only code that includes
 * PostgreSQL's headers is C. src/sql/literal_shape.cc is the C++ user.
 *
 * libpg_query's public pg_query_scan() lexes the text twice and returns the tokens as a
 * protobuf message, which cost four times the lexing itself (bench/analyzer_bench.cc,
 * BM_LiteralShape); this calls the scanner's entry points directly. */
#ifndef SLUICE_SQL_PG_SCAN_H
#define SLUICE_SQL_PG_SCAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called for each token in order. `token` is the grammar's token number, as libpg_query's
 * pg_query.proto numbers them (PgQuery__Token); single-character tokens are the character.
 * `start` is the token's first byte. `end` is one past its last byte for the literal tokens
 * SCONST, BCONST, XCONST, ICONST and FCONST; for every other token `end` is -1 (not known).
 * Returns 0 to go on, anything else to stop. It must not throw: C frames are between. */
typedef int (*sl_token_fn)(void* arg, int token, int start, int end);

/* Scans the `length` bytes of `text` (text[length] is NUL), with standard_conforming_strings
 * on. Returns 0 when every token was reported (or `fn` stopped the scan), -1 when the text
 * holds a NUL (the scanner would stop there, leaving the rest unread), when the scanner
 * rejected the text (an unterminated string, say), or when a literal's span could not be told
 * for certain. */
int sl_scan(const char* text, size_t length, sl_token_fn fn, void* arg);

#ifdef __cplusplus
}
#endif

#endif
