#include "sql/literal_shape.h"

#include <pg_query/pg_query.pb-c.h>

#include "sql/pg_scan.h"

namespace sluice::sql {
namespace {

// The marker class of a literal token, or 0 for every other token. These are exactly the
// literals sl_scan reports an end for (USCONST, U&'...', is not one: literal_shapes_structure
// refuses it first).
char literal_class(PgQuery__Token t) {
  switch (t) {
    case PG_QUERY__TOKEN__SCONST:
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

// Builds the shape as the scanner reports tokens.
struct Builder {
  std::string_view text;
  std::optional<std::string> shape;
  std::size_t copied = 0;  // text up to here is in `shape`: the end of the last literal
  bool valid = true;

  // A token: 0 to go on, 1 to stop (the text gets no shape).
  int on_token(int token, int start_at, int end_at) {
    auto t = static_cast<PgQuery__Token>(token);
    if (literal_shapes_structure(t)) return fail();
    // Tokens come in order and apart: a literal never starts inside the previous one.
    auto start = static_cast<std::size_t>(start_at);
    if (start < copied) return fail();
    char cls = literal_class(t);
    if (!cls) return 0;
    // sl_scan vouches for the end of every literal literal_class() names; should that ever break,
    // the text gets no shape rather than one that swallows a token.
    if (end_at <= start_at) return fail();
    auto end = static_cast<std::size_t>(end_at);
    if (!shape) shape.emplace().reserve(text.size() + 8);
    shape->append(text, copied, start - copied);
    shape->push_back('\xff');
    shape->push_back(cls);
    copied = end;
    return 0;
  }
  int fail() {
    valid = false;
    return 1;
  }
};

int on_token(void* arg, int token, int start, int end) noexcept {
  auto* b = static_cast<Builder*>(arg);
  try {
    return b->on_token(token, start, end);
  } catch (...) {  // no exception may cross the scanner's C frames
    return b->fail();
  }
}

}  // namespace

std::optional<std::string> literal_shape(std::string_view text) {
  thread_local std::string input;
  input.assign(text);  // NUL-terminated for the scanner (which refuses a NUL inside)
  Builder b;
  b.text = text;
  if (sl_scan(input.c_str(), input.size(), on_token, &b) != 0 || !b.valid || !b.shape)
    return std::nullopt;
  b.shape->append(text, b.copied);
  return std::move(b.shape);
}

}  // namespace sluice::sql
