// NamePattern: a relation or column name in a rule, matched against resolved names.
//
// Syntax: parts separated by dots, e.g. `public.customers` or `public.customers.ssn`. An
// unquoted part matches case-insensitively and may use `*` for any run of characters; a part
// in double quotes matches exactly (`"Sales"."Q1"`), as SQL identifiers do. A column pattern
// also matches a use of every column of its relation (`*`, e.g. `SELECT t FROM t`): whoever
// reads all columns reads this one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::policy {

class NamePattern {
 public:
  static Result<NamePattern> parse(std::string_view text);

  std::size_t parts() const { return parts_.size(); }
  // Against "schema.table" (2-part patterns) or, for 3-part patterns, the relation part.
  bool matches_relation(std::string_view qualified) const;
  // A 3-part pattern against a column use; `column` may be "*".
  bool matches_column(std::string_view relation, std::string_view column) const;
  // A pattern against a dotted name of any length with the same number of parts.
  bool matches_name(std::string_view dotted) const;
  const std::string& text() const { return text_; }

 private:
  struct Part {
    std::string text;
    bool quoted = false;
  };
  static bool part_matches(const Part& p, std::string_view value);
  // The first n parts of `dotted`, which must have exactly n.
  bool matches_parts(std::string_view dotted, std::size_t n) const;
  std::vector<Part> parts_;
  std::string text_;
};

// `*` matches any run of characters; nothing else is special.
bool glob_match(std::string_view pattern, std::string_view s, bool ignore_case = false);

}  // namespace sluice::policy
