// The scanner called directly (src/sql/pg_scan.c) against libpg_query's public pg_query_scan():
// the same tokens, at the same places, with the same literal spans, or the same rejection.
// pg_scan.c relies on parts of libpg_query's build its headers do not show (thread-local
// globals, a field appended to the scanner's state, the grammar's token numbers); if any of
// them differed, the spans would, and the literal shapes the analysis cache keys on with them.
#include "sql/literal_shape.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pg_scan_reference.h"

namespace {

using namespace sluice::test;

// Texts that exercise every literal form and the ways a literal's end can be misjudged.
const char* const kLiteralTexts[] = {
    "select 1, 22, 333 from t where a = 4444 and b in (5, 66)",
    "select 1.5, .5, 5., 1e10, 1.5e-3, 1E+2, 3000000000, 2147483647, 2147483648, 00012",
    "select 00000000000000000001, 000000000002147483648, .5e-3, 1.e5, 0.0, 1e-0",
    "select 1..2, 1.2.3, 123abc, 1e, 1ee5, 0x1f, 1_000, 08",
    "select 'a', 'it''s', '', '''', 'multi\nline'",
    "select 'a'\n'b', 'a' 'b', 'a'\n  \n'c' as x, 'a' -- c\n'b'",
    "select E'a\\'b', e'\\\\', E'\\x41\\n', E'a\\'' ; drop table t; --'",
    "select $$a'b$$, $q$ ' ; $x$ $q$, $a$$a$, $1, $$$$, $_x1$ y $_x1$",
    "select B'101', b'', X'ff', x'', N'nat', n'x', U&'d\\0061t', U&'!0061' UESCAPE '!'",
    "select \"a'b\", U&\"x\", \"\"\"\" from \"t\"\"q\" where \"c\" = 'v'",
    "select /* 'no' /* nested 'x' */ still */ 1 -- 'c'\n, 2",
    "select 'unterminated",
    "select $$unterminated",
    "select /* unterminated",
    "select E'\\",
    "select b'12', x'zz', B'1' 'x'",
    "select 1::float(10), 2::float8, '3'::text, interval '1 day', date '2020-01-01'",
    "select a->>'k', a#>'{x}', a @> '{\"k\":1}'::jsonb, a !~~* 'x%' from t",
    "select +1, -1, - 1, 1-1, 1--1\n, 1/*c*/2",
    "insert into t values (1, 'a', 1.5, null, true), (2, E'b\\'', 2e5, B'1', X'0')",
    "select 'caf\xc3\xa9', '\xe2\x82\xac', 'e\xcc\x81' from t where n = '\xf0\x9f\x98\x80'",
    "",
    "   ",
    ";",
    "select 1; select 'two'; select 3.0",
};

std::vector<std::string> corpus_texts() {
  std::vector<std::string> out(std::begin(kLiteralTexts), std::end(kLiteralTexts));
  YAML::Node corpus = YAML::LoadFile(SLUICE_SOURCE_DIR "/tests/corpus/postgres.yaml");
  for (const auto& entry : corpus) out.push_back(entry["sql"].as<std::string>());
  return out;
}

// Small edits that move where literals start and end: the characters that open, close or
// escape them.
std::string mutate(const std::string& text, std::mt19937& rng) {
  static const std::string kChars = "'$\\\n\"eEbBxXnNuU&0123456789.+-*/ ;q_(),\xc3\xa9";
  std::string s = text;
  int edits = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < edits; ++i) {
    std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    char c = kChars[rng() % kChars.size()];
    switch (rng() % 3) {
      case 0:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      case 1:
        if (at < s.size()) s.erase(at, 1);
        break;
      default:
        if (at < s.size()) s[at] = c;
        break;
    }
  }
  return s;
}

TEST(PgScan, TokensAndLiteralSpansMatchTheLibrarysScan) {
  std::mt19937 rng(20261205);
  int compared = 0, rejected = 0, literals = 0;
  auto check = [&](const std::string& text) {
    auto expected = reference_tokens(text);
    auto got = direct_tokens(text);
    ASSERT_EQ(describe(got), describe(expected)) << "text: " << text;
    ++compared;
    if (!expected) ++rejected;
    if (expected)
      for (const auto& t : *expected) literals += is_literal(t.token);
  };
  for (const std::string& text : corpus_texts()) {
    check(text);
    int variants = text.size() < 200 ? 200 : 20;
    for (int i = 0; i < variants; ++i) check(mutate(text, rng));
  }
  // Enough of each outcome that the comparison means something.
  EXPECT_GT(compared, 5000);
  EXPECT_GT(rejected, 200);
  EXPECT_GT(literals, 5000);
}

// A text with a NUL in it gets no shape (the scanner would stop there, and the rest would be
// copied into the shape unread); the same text without it does.
TEST(PgScan, ATextWithANulHasNoShape) {
  EXPECT_TRUE(sluice::sql::literal_shape("select 1"));
  EXPECT_FALSE(sluice::sql::literal_shape(std::string("select 1\0; drop table t", 23)));
}

// Each thread has its own scanner state (libpg_query's globals are thread-local): a thread
// that scans for the first time gets the same tokens.
TEST(PgScan, AnotherThreadScansTheSame) {
  const std::string text = "select 'a', 1.5, $$x$$ from t where b = 2 and c = E'\\''";
  auto here = direct_tokens(text);
  std::optional<std::vector<Token>> there;
  std::thread([&] { there = direct_tokens(text); }).join();
  ASSERT_TRUE(here);
  EXPECT_EQ(describe(there), describe(here));
  EXPECT_EQ(describe(here), describe(reference_tokens(text)));
}

// The shape is made from those spans: it keeps everything but the literals, verbatim.
TEST(PgScan, ShapesKeepEverythingButTheLiterals) {
  std::mt19937 rng(7);
  int shaped = 0;
  for (const std::string& base : corpus_texts()) {
    for (int i = 0; i < 20; ++i) {
      std::string text = i == 0 ? base : mutate(base, rng);
      auto expected = reference_shape(text);
      auto shape = sluice::sql::literal_shape(text);
      ASSERT_EQ(shape.has_value(), expected.has_value()) << text;
      if (!shape) continue;
      EXPECT_EQ(*shape, *expected) << text;
      ++shaped;
    }
  }
  EXPECT_GT(shaped, 1000);
}

// A literal of the class `cls` ('I' or 'S') or another one, with the bytes that could move a
// literal's end: quotes, backslashes, NULs, points, exponents, too many digits, newlines.
std::string random_literal(char cls, std::mt19937& rng) {
  static const std::string kInString = "ab 0'\\\n$;-\xc3\xa9\"x";
  std::string s;
  switch (rng() % 6) {
    case 0:  // a string, mostly plain
      s = "'";
      for (std::size_t n = rng() % 12; n > 0; --n)
        s += rng() % 4 ? static_cast<char>('a' + rng() % 26) : kInString[rng() % kInString.size()];
      if (rng() % 5 == 0) s += '\0';
      return s + "'";
    case 1:  // an integer, sometimes too large for 32 bits, sometimes with leading zeros
      s = std::to_string(rng() % 3 == 0 ? rng() * 3ull : rng() % 100000);
      if (rng() % 4 == 0) s = "000" + s;
      return s;
    case 2:  // a number that is not an integer
      return std::to_string(rng() % 1000) + (rng() % 2 ? ".5" : "e3");
    case 3:  // the edges of 32 bits
      return rng() % 2 ? "2147483647" : "2147483648";
    case 4:  // another kind of string
      return rng() % 2 ? "E'x\\'y'" : "$$z$$";
    default:  // the same class, plain
      return cls == 'I' ? std::to_string(rng() % 1000) : "'v" + std::to_string(rng() % 1000) + "'";
  }
}

// A text that is a remembered one with other literals in its places gets its shape without the
// scanner when they are plain, and from the scanner when they are not: either way the shape is
// the library's.
TEST(PgScan, ShapesMadeWithoutTheScannerAreTheScannersShapes) {
  std::mt19937 rng(20261205);
  sluice::sql::literal_shape_forget();
  const auto before = sluice::sql::literal_shape_counts();
  int compared = 0;
  for (const std::string& base : corpus_texts()) {
    auto tokens = reference_tokens(base);
    if (!tokens || !sluice::sql::literal_shape(base)) continue;
    for (int i = 0; i < 40; ++i) {
      std::string text;
      std::size_t copied = 0;
      for (const auto& t : *tokens) {
        if (!is_literal(t.token)) continue;
        auto start = static_cast<std::size_t>(t.start), end = static_cast<std::size_t>(t.end);
        text.append(base, copied, start - copied);
        const char cls = t.token == PG_QUERY__TOKEN__ICONST ? 'I' : 'S';
        text += rng() % 3 ? random_literal(cls, rng) : base.substr(start, end - start);
        copied = end;
      }
      text.append(base, copied);
      // Now and then a byte outside the literals changes too: that text is not the remembered
      // one, whatever its literals.
      if (rng() % 4 == 0) text = mutate(text, rng);
      auto expected = reference_shape(text);
      auto shape = sluice::sql::literal_shape(text);
      ASSERT_EQ(shape.has_value(), expected.has_value()) << text;
      if (shape) {
        EXPECT_EQ(*shape, *expected) << text;
      }
      ++compared;
    }
  }
  const auto after = sluice::sql::literal_shape_counts();
  // Both ways were taken often enough for the comparison to mean something.
  EXPECT_GT(compared, 1000);
  EXPECT_GT(after.matched - before.matched, 300u);
  EXPECT_GT(after.scanned - before.scanned, 300u);
}

// What is remembered is only a shortcut: a text that merely resembles a remembered one is
// scanned, and gets its own shape or none.
TEST(PgScan, ATextThatOnlyResemblesARememberedOneIsScanned) {
  using sluice::sql::literal_shape;
  sluice::sql::literal_shape_forget();
  ASSERT_TRUE(literal_shape("select * from t where a = 1 and b = 'x'"));
  auto scanned = [](const std::string& text) {
    const auto before = sluice::sql::literal_shape_counts().scanned;
    auto shape = literal_shape(text);
    EXPECT_EQ(shape, reference_shape(text)) << text;
    return sluice::sql::literal_shape_counts().scanned - before == 1;
  };
  EXPECT_FALSE(scanned("select * from t where a = 22 and b = 'yy'"));
  EXPECT_TRUE(scanned("select * from t where a = 2147483648 and b = 'x'"));  // FCONST
  EXPECT_TRUE(scanned("select * from t where a = 1.5 and b = 'x'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = 'x''; drop table t; --'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = 'x\\'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = 'x'\n'y'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = 'x' "));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = E'x'"));
  EXPECT_TRUE(scanned("select * from t where a = x and b = 'x'"));
  EXPECT_TRUE(scanned("select * from u where a = 1 and b = 'x'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 or b = 'x'"));
  EXPECT_TRUE(scanned("select * from t where a = 1 and b = '" + std::string(5000, 'x') + "'"));
}

}  // namespace
