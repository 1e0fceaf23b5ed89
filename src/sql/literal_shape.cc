#include "sql/literal_shape.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

namespace sluice::sql {
namespace {

// The marker class of a literal token, or 0 for every other token.
char literal_class(PgQuery__Token t) {
  switch (t) {
    case PG_QUERY__TOKEN__SCONST:
    case PG_QUERY__TOKEN__USCONST:
      return 'S';
    case PG_QUERY__TOKEN__ICONST:
      return 'I';
    case PG_QUERY__TOKEN__FCONST:
      return 'F';
    case PG_QUERY__TOKEN__BCONST:
      return 'B';
    case PG_QUERY__TOKEN__XCONST:
      return 'X';
    default:
      return 0;
  }
}

// Tokens after which a literal's value changes the tree's structure, not only a constant in
// it: `U&"..." UESCAPE '!'` decodes the identifier with the escape character the string
// gives (so it names another column or table), and `float(p)` is float4 for p <= 24 and
// float8 above. A text with any of them gets no shape.
bool literal_shapes_structure(PgQuery__Token t) {
  return t == PG_QUERY__TOKEN__UESCAPE || t == PG_QUERY__TOKEN__UIDENT ||
         t == PG_QUERY__TOKEN__USCONST || t == PG_QUERY__TOKEN__FLOAT_P;
}

}  // namespace

std::optional<std::string> literal_shape(std::string_view text) {
  thread_local std::string input;
  input.assign(text);  // NUL-terminated for the scanner
  PgQueryScanResult scanned = pg_query_scan(input.c_str());
  if (scanned.error) {
    pg_query_free_scan_result(scanned);
    return std::nullopt;
  }
  PgQuery__ScanResult* tokens = pg_query__scan_result__unpack(
      nullptr, scanned.pbuf.len, reinterpret_cast<const std::uint8_t*>(scanned.pbuf.data));
  pg_query_free_scan_result(scanned);
  if (!tokens) return std::nullopt;
  std::optional<std::string> shape;
  std::size_t copied = 0;  // text up to here is in `shape`
  std::size_t prev_end = 0;
  bool valid = true;
  for (std::size_t i = 0; i < tokens->n_tokens; ++i) {
    const PgQuery__ScanToken* t = tokens->tokens[i];
    // Spans must be in order, inside the text and apart; a literal's must not be empty
    // (the scanner reports no end for some, e.g. U&'...'). Anything else: no shape, rather
    // than a replacement that might swallow a token.
    if (t->start < 0 || t->end < t->start || static_cast<std::size_t>(t->start) < prev_end ||
        static_cast<std::size_t>(t->end) > text.size()) {
      valid = false;
      break;
    }
    if (literal_shapes_structure(t->token)) {
      valid = false;
      break;
    }
    auto start = static_cast<std::size_t>(t->start), end = static_cast<std::size_t>(t->end);
    prev_end = end;
    char cls = literal_class(t->token);
    if (!cls) continue;
    if (end == start) {
      valid = false;
      break;
    }
    if (!shape) shape.emplace().reserve(text.size());
    shape->append(text, copied, start - copied);
    shape->push_back('\xff');
    shape->push_back(cls);
    copied = end;
  }
  pg_query__scan_result__free_unpacked(tokens, nullptr);
  if (!valid || !shape) return std::nullopt;
  shape->append(text, copied);
  return shape;
}

}  // namespace sluice::sql
