#include "sql/literal_shape.h"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

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

// A literal's place in a text, and its class.
struct Slot {
  std::size_t begin, end;
  char cls;

  // Whether the literal is one whose end the bytes in it cannot move (plain_length). Not
  // E'...', $$...$$, B'...', X'...', numerics with a point or an exponent, or strings
  // concatenated across lines: they are shaped by the scanner every time.
  bool plain_in(std::string_view text) const {
    std::string_view v = text.substr(begin, end - begin);
    return plain_length(cls, v) == v.size();
  }
  // The length of the plain literal of class `cls` that `s` starts with, or 0: for 'I' a run of
  // ASCII digits whose value fits in 32 bits (the scanner makes a larger one a numeric
  // constant, FCONST); for 'S' a quote, bytes that are none of quote, backslash or NUL, and a
  // quote.
  static std::size_t plain_length(char cls, std::string_view s) {
    std::size_t n = 0;
    if (cls == 'I') {
      while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
      return n > 0 && fits_int32(s.substr(0, n)) ? n : 0;
    }
    if (cls != 'S' || s.empty() || s[0] != '\'') return 0;
    n = 1;
    while (n < s.size() && s[n] != '\'' && s[n] != '\\' && s[n] != '\0') ++n;
    return n < s.size() && s[n] == '\'' ? n + 1 : 0;
  }
  static bool fits_int32(std::string_view digits) {
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    if (digits.size() > 10) return false;
    std::uint64_t v = 0;
    for (char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    return v <= 2147483647u;
  }
};

// A text the scanner shaped, all of whose literals are plain (Slot::plain_in): another text
// that is the same bytes with other plain literals of the same classes in the same places has
// the same shape, and is recognised without the scanner.
//
// Why that is the scanner's answer too: the scanner reads left to right, and where a token ends
// depends on the bytes read so far and on those that follow it. Up to a literal the two texts
// are the same bytes, so the scanner is where it was in the template. All of its rules see the
// digits of an integer alike (none tells one digit from another, or counts them), and inside a
// quoted string only a quote ends the string (a backslash or NUL could matter; neither is
// accepted); so the literal ends where its own bytes end, in the same state, followed by the
// same bytes as in the template. An integer stays an ICONST only while it fits in 32 bits,
// which is checked. What comes after the last literal is compared to the end.
struct Template {
  std::string text;
  std::string shape;
  std::vector<Slot> slots;

  // Whether `t` is this template with other plain literals in its slots.
  bool matches(std::string_view t) const {
    std::size_t p = 0, q = 0;  // in t, in text
    for (const Slot& s : slots) {
      std::string_view fixed = std::string_view(text).substr(q, s.begin - q);
      if (t.substr(p, fixed.size()) != fixed) return false;
      p += fixed.size();
      const std::size_t n = Slot::plain_length(s.cls, t.substr(p));
      if (n == 0) return false;
      p += n;
      q = s.end;
    }
    return t.substr(p) == std::string_view(text).substr(q);
  }
};

// The last few templates this thread made, newest first. Texts longer than kMaxText are not
// kept (a match compares the whole text).
class Templates {
 public:
  static constexpr std::size_t kSlots = 4;
  static constexpr std::size_t kMaxText = 4096;

  // A text longer than kMaxText is scanned (and so refused, as the scanner refuses it, should
  // a huge string literal exceed what the scanner can hold).
  const Template* find(std::string_view text) const {
    if (text.size() > kMaxText) return nullptr;
    for (std::size_t i = 0; i < used_; ++i)
      if (all_[i].matches(text)) return &all_[i];
    return nullptr;
  }
  void add(std::string_view text, const std::string& shape, std::vector<Slot> slots) {
    if (text.size() > kMaxText) return;
    // Made whole before anything is replaced: an allocation that fails leaves the others as
    // they were, never a text paired with another text's shape.
    Template t{std::string(text), shape, std::move(slots)};
    if (used_ < kSlots) ++used_;
    std::rotate(all_.begin(), all_.begin() + static_cast<std::ptrdiff_t>(used_ - 1),
                all_.begin() + static_cast<std::ptrdiff_t>(used_));
    all_[0] = std::move(t);
  }
  void clear() { used_ = 0; }

 private:
  std::array<Template, kSlots> all_;
  std::size_t used_ = 0;
};

thread_local Templates templates;
thread_local LiteralShapeCounts counts;

// Builds the shape as the scanner reports tokens.
struct Builder {
  std::string_view text;
  std::optional<std::string> shape;
  std::size_t copied = 0;  // text up to here is in `shape`: the end of the last literal
  bool valid = true;
  std::vector<Slot> slots;  // every literal, while all of them are plain (see Template)
  bool plain = true;

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
    if (plain) {
      const Slot slot{start, end, cls};
      plain = slot.plain_in(text);
      if (plain) slots.push_back(slot);
    }
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
  if (const Template* t = templates.find(text)) {
    ++counts.matched;
    return t->shape;
  }
  ++counts.scanned;
  thread_local std::string input;
  input.assign(text);  // NUL-terminated for the scanner (which refuses a NUL inside)
  Builder b;
  b.text = text;
  if (sl_scan(input.c_str(), input.size(), on_token, &b) != 0 || !b.valid || !b.shape)
    return std::nullopt;
  b.shape->append(text, b.copied);
  if (b.plain) templates.add(text, *b.shape, std::move(b.slots));
  return std::move(b.shape);
}

void literal_shape_forget() {
  templates.clear();
}

LiteralShapeCounts literal_shape_counts() {
  return counts;
}

}  // namespace sluice::sql
