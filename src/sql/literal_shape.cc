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

// libpg_query's scan result, read straight from its protobuf encoding (pg_query.proto:
// ScanResult { int32 version = 1; repeated ScanToken tokens = 2; } and ScanToken { int32
// start = 1; int32 end = 2; Token token = 4; KeywordKind keyword_kind = 5; }). Unpacking it
// with protobuf-c allocated a message per token and cost more than the scan itself.
class ProtoReader {
 public:
  ProtoReader(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ == end_; }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      std::uint8_t b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // One field: its number and wire type; a length-delimited field's bytes in `sub`, a varint
  // in `value`. Fixed-width fields are skipped over.
  bool field(std::uint32_t& number, std::uint32_t& wire, std::uint64_t& value, ProtoReader& sub) {
    std::uint64_t tag;
    if (!varint(tag)) return false;
    number = static_cast<std::uint32_t>(tag >> 3);
    wire = static_cast<std::uint32_t>(tag & 7);
    switch (wire) {
      case 0:
        return varint(value);
      case 1:
        return skip(8);
      case 2: {
        std::uint64_t len;
        if (!varint(len) || len > static_cast<std::uint64_t>(end_ - p_)) return false;
        sub = ProtoReader(p_, static_cast<std::size_t>(len));
        p_ += len;
        return true;
      }
      case 5:
        return skip(4);
      default:
        return false;
    }
  }

 private:
  bool skip(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

struct Token {
  std::int64_t start = 0, end = 0;
  PgQuery__Token token = PG_QUERY__TOKEN__NUL;
};

bool read_token(ProtoReader r, Token& t) {
  while (!r.done()) {
    std::uint32_t number, wire;
    std::uint64_t value = 0;
    ProtoReader sub(nullptr, 0);
    if (!r.field(number, wire, value, sub)) return false;
    if (wire != 0) continue;
    // int32 fields carry negative values sign-extended to 64 bits.
    auto v = static_cast<std::int64_t>(value);
    if (number == 1) t.start = v;
    if (number == 2) t.end = v;
    if (number == 4) t.token = static_cast<PgQuery__Token>(v);
  }
  return true;
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
  ProtoReader result(reinterpret_cast<const std::uint8_t*>(scanned.pbuf.data), scanned.pbuf.len);
  std::optional<std::string> shape;
  std::size_t copied = 0;  // text up to here is in `shape`
  std::size_t prev_end = 0;
  bool valid = true;
  while (valid && !result.done()) {
    std::uint32_t number, wire;
    std::uint64_t value = 0;
    ProtoReader sub(nullptr, 0);
    Token t;
    if (!result.field(number, wire, value, sub) ||
        (number == 2 && (wire != 2 || !read_token(sub, t)))) {
      valid = false;  // not the encoding expected: no shape
      break;
    }
    if (number != 2) continue;
    // Spans must be in order, inside the text and apart; a literal's must not be empty
    // (the scanner reports no end for some, e.g. U&'...'). Anything else: no shape, rather
    // than a replacement that might swallow a token.
    if (t.start < 0 || t.end < t.start || static_cast<std::size_t>(t.start) < prev_end ||
        static_cast<std::size_t>(t.end) > text.size()) {
      valid = false;
      break;
    }
    if (literal_shapes_structure(t.token)) {
      valid = false;
      break;
    }
    auto start = static_cast<std::size_t>(t.start), end = static_cast<std::size_t>(t.end);
    prev_end = end;
    char cls = literal_class(t.token);
    if (!cls) continue;
    if (end == start) {
      valid = false;
      break;
    }
    if (!shape) shape.emplace().reserve(text.size() + 8);
    shape->append(text, copied, start - copied);
    shape->push_back('\xff');
    shape->push_back(cls);
    copied = end;
  }
  pg_query_free_scan_result(scanned);
  if (!valid || !shape) return std::nullopt;
  shape->append(text, copied);
  return shape;
}

}  // namespace sluice::sql
