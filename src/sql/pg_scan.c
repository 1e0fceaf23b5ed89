/* sl_scan: PostgreSQL's scanner, as libpg_query builds it, called directly (see pg_scan.h).
 *
 * Three things here follow libpg_query's build rather than PostgreSQL's headers, which is
 * why this file is small and C:
 * - libpg_query makes the backend's globals thread-local. The error-handling ones PG_TRY
 *   uses (PG_exception_stack, error_context_stack) are renamed away while the headers are
 *   read and declared again below as they are defined in the library.
 * - Its core_yy_extra_type is PostgreSQL's with one field appended, `int yyllocend`: where
 *   the last string, bit string, hex string or quoted identifier ended. The scanner writes
 *   it into the struct we pass, so ours has room for it, at the offset C gives that field.
 *   (libpg_query's pg_query_scan() reads the end of those tokens from it too.)
 * - Its token numbers are those of its own grammar (pg_query.proto's Token enum), not those
 *   of the server's gram.h (which differ: FLOAT_P is 420 there, 422 in libpg_query).
 * tests/unit/literal_shape_test.cc checks the tokens and spans against pg_query_scan(), the
 * library's public API, over the analyzer corpus and mutations of it. */
/* postgres.h comes first, as always with PostgreSQL's headers. */
// clang-format off
#define PG_exception_stack sl_unused_PG_exception_stack
#define error_context_stack sl_unused_error_context_stack
#include <postgres.h>
#include <parser/scanner.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <pg_query/pg_query_internal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
// clang-format on
#undef PG_exception_stack
#undef error_context_stack

/* What follows is true of libpg_query 15 (pg_query.h sets PG_VERSION_NUM to its parser's). From
 * 16 on, integer tokens include 0x1f, 0o17, 0b1 and 1_000, which integer_end does not scan. */
#if PG_VERSION_NUM / 10000 != 15
#error "pg_scan.c is written for libpg_query 15; check integer_end and yyllocend"
#endif

#include "sql/pg_scan.h"

extern __thread sigjmp_buf* PG_exception_stack;
extern __thread ErrorContextCallback* error_context_stack;

/* Where libpg_query's yyllocend lives: right after PostgreSQL's last field, aligned as an int. */
#define SL_YYLLOCEND_OFFSET                                                                       \
  ((offsetof(core_yy_extra_type, saw_non_ascii) + sizeof(bool) + sizeof(int) - 1) / sizeof(int) * \
   sizeof(int))

#if defined(__x86_64__)
/* The offset libpg_query's own pg_query_scan() reads yyllocend at, on x86-64. */
_Static_assert(SL_YYLLOCEND_OFFSET == 84, "libpg_query 15's yyllocend is at offset 84");
#endif

union sl_yy_extra {
  core_yy_extra_type pg;
  char bytes[SL_YYLLOCEND_OFFSET + sizeof(int)];
};

static int yyllocend(const union sl_yy_extra* extra) {
  int v;
  memcpy(&v, extra->bytes + SL_YYLLOCEND_OFFSET, sizeof v);
  return v;
}

/* The end of an integer literal: PostgreSQL 15 scans {digit}+ as one, and its value must be
 * the one the scanner computed (else: -1, not a span we can vouch for). */
static int integer_end(const char* text, int start, int value) {
  long long v = 0;
  int i = start;
  while (text[i] >= '0' && text[i] <= '9' && v <= 0x7fffffff) v = v * 10 + (text[i++] - '0');
  return i > start && v == value ? i : -1;
}

/* The end of a numeric literal: the scanner hands over its exact text. */
static int numeric_end(const char* text, int start, const char* str) {
  size_t n = str ? strlen(str) : 0;
  return n > 0 && strncmp(text + start, str, n) == 0 ? start + (int)n : -1;
}

static int scan_all(const char* text, int length, sl_token_fn fn, void* arg) {
  union sl_yy_extra extra;
  memset(&extra, 0, sizeof extra);
  core_yyscan_t scanner = scanner_init(text, &extra.pg, &ScanKeywords, ScanKeywordTokens);
  extra.pg.escape_string_warning = false;
  extra.pg.standard_conforming_strings = true;
  int result = 0;
  for (;;) {
    core_YYSTYPE value;
    YYLTYPE start = 0;
    int token = core_yylex(&value, &start, scanner);
    if (token == 0) break;
    int end = -1, literal = 1;
    switch (token) {
      case PG_QUERY__TOKEN__SCONST:
      case PG_QUERY__TOKEN__BCONST:
      case PG_QUERY__TOKEN__XCONST:
        end = yyllocend(&extra);
        break;
      case PG_QUERY__TOKEN__ICONST:
        end = integer_end(text, start, value.ival);
        break;
      case PG_QUERY__TOKEN__FCONST:
        end = numeric_end(text, start, value.str);
        break;
      default:
        literal = 0;
        break;
    }
    if (end != -1 && (end <= start || end > length)) end = -1;
    /* A literal whose span is not certain: the caller could not say what it replaces. */
    if (start < 0 || start > length || (literal && end == -1)) {
      result = -1;
      break;
    }
    if (fn(arg, token, start, end) != 0) break;
  }
  scanner_finish(scanner);
  return result;
}

int sl_scan(const char* text, size_t length, sl_token_fn fn, void* arg) {
  MemoryContext context;
  volatile int result = -1;
  if (length > 0x7fffffff || strlen(text) != length) return -1;
  context = pg_query_enter_memory_context();
  PG_TRY();
  { result = scan_all(text, (int)length, fn, arg); }
  PG_CATCH();
  {
    FlushErrorState();
    result = -1;
  }
  PG_END_TRY();
  pg_query_exit_memory_context(context);
  return result;
}
