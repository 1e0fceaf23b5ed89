// The scanner called directly (src/sql/pg_scan.c) and libpg_query's public pg_query_scan(),
// side by side: each gives the tokens of a text as (token, start, end of a literal), or
// nothing when it rejects the text; and the literal shape the library's scan gives. Used by
// tests/unit/literal_shape_test.cc and tests/fuzz/literal_shape_fuzz.cc. Header-only, for tests.
#pragma once

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sql/pg_scan.h"

namespace sluice::test {

struct Token {
  int token, start, end;
  bool operator==(const Token&) const = default;
};

inline bool is_literal(int token) {
  return token == PG_QUERY__TOKEN__SCONST || token == PG_QUERY__TOKEN__BCONST ||
         token == PG_QUERY__TOKEN__XCONST || token == PG_QUERY__TOKEN__ICONST ||
         token == PG_QUERY__TOKEN__FCONST;
}

// The library's own answer; nullopt when it rejects the text. Ends of other tokens are not
// compared (sl_scan does not report them).
inline std::optional<std::vector<Token>> reference_tokens(const std::string& text) {
  PgQueryScanResult r = pg_query_scan(text.c_str());
  std::optional<std::vector<Token>> out;
  if (!r.error) {
    PgQuery__ScanResult* scan = pg_query__scan_result__unpack(
        nullptr, r.pbuf.len, reinterpret_cast<const std::uint8_t*>(r.pbuf.data));
    if (scan) {
      out.emplace();
      for (std::size_t i = 0; i < scan->n_tokens; ++i) {
        const auto* t = scan->tokens[i];
        out->push_back({t->token, t->start, is_literal(t->token) ? t->end : -1});
      }
      pg_query__scan_result__free_unpacked(scan, nullptr);
    }
  }
  pg_query_free_scan_result(r);
  return out;
}

inline std::optional<std::vector<Token>> direct_tokens(const std::string& text) {
  std::vector<Token> tokens;
  auto collect = [](void* arg, int token, int start, int end) noexcept -> int {
    static_cast<std::vector<Token>*>(arg)->push_back({token, start, end});
    return 0;
  };
  if (sl_scan(text.c_str(), text.size(), collect, &tokens) != 0) return std::nullopt;
  return tokens;
}

// The literal shape the library's own scan gives `text` (src/sql/literal_shape.h): every
// literal replaced by "\xff" and its class letter; nullopt for a text the scan rejects, one with
// a NUL, one with no literal, or one with a token after which a literal shapes the tree.
inline std::optional<std::string> reference_shape(const std::string& text) {
  if (text.find('\0') != std::string::npos) return std::nullopt;
  auto tokens = reference_tokens(text);
  if (!tokens) return std::nullopt;
  std::string shape;
  std::size_t copied = 0;
  bool any = false;
  for (const auto& t : *tokens) {
    if (t.token == PG_QUERY__TOKEN__UESCAPE || t.token == PG_QUERY__TOKEN__UIDENT ||
        t.token == PG_QUERY__TOKEN__USCONST || t.token == PG_QUERY__TOKEN__FLOAT_P)
      return std::nullopt;
    if (!is_literal(t.token)) continue;
    any = true;
    shape.append(text, copied, static_cast<std::size_t>(t.start) - copied);
    shape += '\xff';
    shape += t.token == PG_QUERY__TOKEN__SCONST   ? 'S'
             : t.token == PG_QUERY__TOKEN__ICONST ? 'I'
             : t.token == PG_QUERY__TOKEN__FCONST ? 'F'
             : t.token == PG_QUERY__TOKEN__BCONST ? 'B'
                                                  : 'X';
    copied = static_cast<std::size_t>(t.end);
  }
  if (!any) return std::nullopt;
  shape.append(text, copied);
  return shape;
}

inline std::string describe(const std::optional<std::vector<Token>>& tokens) {
  if (!tokens) return "rejected";
  std::string s;
  for (const auto& t : *tokens)
    s +=
        std::to_string(t.token) + "@" + std::to_string(t.start) + "-" + std::to_string(t.end) + " ";
  return s;
}

}  // namespace sluice::test
