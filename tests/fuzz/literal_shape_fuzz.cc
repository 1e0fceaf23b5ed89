// libFuzzer target: arbitrary text into the scanner called directly (src/sql/pg_scan.c),
// checked against libpg_query's public pg_query_scan(): the same tokens at the same places,
// with the same literal spans, or the same rejection. Then literal_shape() on it, against the
// shape the library's scan gives.
//
// An input may hold two texts split by a 0xFE byte (a byte no UTF-8 text contains): the first
// is shaped first, so the second may be shaped from it without the scanner (when it is the
// first with other plain literals: the seed `sql_literal_pair` is one). Each input starts with
// nothing remembered, so a failure reproduces from its input alone. A difference aborts; so
// does any crash or sanitizer report. (libpg_query itself is not instrumented: coverage guides
// the search through our code only, the corpus and mutations do the rest.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pg_scan_reference.h"
#include "sql/literal_shape.h"

namespace {

void check(const std::string& text) {
  if (text.find('\0') != std::string::npos) {
    if (sluice::sql::literal_shape(text)) std::abort();  // never shaped
    return;
  }
  auto expected = sluice::test::reference_tokens(text);
  auto got = sluice::test::direct_tokens(text);
  if (got != expected) {
    std::fprintf(stderr, "scan differs\nexpected: %s\ngot:      %s\n",
                 sluice::test::describe(expected).c_str(), sluice::test::describe(got).c_str());
    std::abort();
  }
  auto shape = sluice::sql::literal_shape(text);
  if (shape != sluice::test::reference_shape(text)) {
    std::fprintf(stderr, "shape differs for: %s\n", text.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  sluice::sql::literal_shape_forget();
  const std::size_t split = input.find('\xfe');
  check(input.substr(0, split));
  if (split != std::string::npos) check(input.substr(split + 1));
  return 0;
}
