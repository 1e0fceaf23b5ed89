// libFuzzer target: arbitrary text into the scanner called directly (src/sql/pg_scan.c),
// checked against libpg_query's public pg_query_scan(): the same tokens at the same places,
// with the same literal spans, or the same rejection. Then literal_shape() on it, against the
// shape the library's scan gives: made by the scanner or, when the input is an earlier one with
// other plain literals (the mutator makes many), without it. A difference aborts; so does any
// crash or sanitizer report. (libpg_query itself is not
// instrumented: coverage guides the search through our code only, the corpus and mutations
// do the rest.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pg_scan_reference.h"
#include "sql/literal_shape.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('\0') != std::string::npos) {
    if (sluice::sql::literal_shape(text)) std::abort();  // never shaped
    return 0;
  }
  auto expected = sluice::test::reference_tokens(text);
  auto got = sluice::test::direct_tokens(text);
  if (got != expected) {
    std::fprintf(stderr, "scan differs\nexpected: %s\ngot:      %s\n",
                 sluice::test::describe(expected).c_str(), sluice::test::describe(got).c_str());
    std::abort();
  }
  auto shape = sluice::sql::literal_shape(text);
  auto expected_shape = sluice::test::reference_shape(text);
  if (shape != expected_shape) {
    std::fprintf(stderr, "shape differs for: %s\n", text.c_str());
    std::abort();
  }
  return 0;
}
