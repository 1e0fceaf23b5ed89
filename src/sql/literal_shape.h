// literal_shape: a statement's text with every literal constant replaced by a marker of its
// class (string, integer, numeric, bit string), as PostgreSQL's own scanner tokenizes it.
//
// Two texts with the same shape differ only in the values of their literals: the parser
// builds the same tree from both, with other constants in it. Where a literal's value
// shapes the tree itself (the escape character of `UESCAPE '!'`, the precision of
// `float(p)`), the text gets no shape. The analysis cache uses the
// shape as a second key, for analyses that read no literal's value
// (Analysis::independent_of_literals), so that statements sent with literals instead of
// parameters (ORMs, agents, pgbench -S in simple mode) are analysed once per shape, not once
// per value.
//
// The tokens come from libpg_query's scanner, the one the parser uses (with
// standard_conforming_strings on, as the gateway pins upstream): no second lexer of our own
// whose idea of where a string ends could differ from the server's. The one shortcut: each
// thread remembers the last few texts it scanned whose literals are all plain (integers of
// digits only; '...' strings with no quote, backslash or NUL inside), and a text that is one
// of them byte for byte outside its literals, with plain literals of the same classes in
// their places, gets that text's shape without a scan (literal_shape.cc says why the scanner
// would give the same). tests/unit/literal_shape_test.cc and tests/fuzz/literal_shape_fuzz.cc
// check every shape, made either way, against the library's own scan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sql {

// The shape of `text`, or nullopt when it has no literal (the exact text is the better key)
// or the scanner refuses it. Markers are "\xff" plus a class letter: bytes no valid UTF-8
// text contains, so a shape never equals another statement's text or shape by accident.
// The caller must check that `text` is valid UTF-8 first.
std::optional<std::string> literal_shape(std::string_view text);

// How this thread's shapes were made: by the scanner, or by matching a remembered text.
struct LiteralShapeCounts {
  std::uint64_t scanned = 0;
  std::uint64_t matched = 0;
};
LiteralShapeCounts literal_shape_counts();
// Forgets the texts this thread remembers, so that what follows is shaped as if it came first
// (tests and the fuzzer, for runs that reproduce).
void literal_shape_forget();

}  // namespace sluice::sql
