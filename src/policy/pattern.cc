#include "policy/pattern.h"

#include <cctype>

namespace sluice::policy {
namespace {

// Names fold case as PostgreSQL folds unquoted identifiers: ASCII letters only.
char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The next dot-separated part of `s` (consumed), or false when there is none left.
bool next_part(std::string_view& s, bool& more, std::string_view& part) {
  if (!more) return false;
  auto dot = s.find('.');
  part = s.substr(0, dot);
  more = dot != std::string_view::npos;
  if (more) s.remove_prefix(dot + 1);
  return true;
}

}  // namespace

bool glob_match(std::string_view pat, std::string_view s, bool ignore_case) {
  if (pat.find('*') == std::string_view::npos) {  // no wildcard: an equality
    if (pat.size() != s.size()) return false;
    if (!ignore_case) return pat == s;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (fold(pat[i]) != fold(s[i])) return false;
    return true;
  }
  auto same = [&](char a, char b) { return ignore_case ? fold(a) == fold(b) : a == b; };
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && same(pat[p], s[i])) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

Result<NamePattern> NamePattern::parse(std::string_view text) {
  NamePattern p;
  p.text_ = std::string(text);
  std::size_t i = 0;
  while (i <= text.size()) {
    Part part;
    if (i < text.size() && text[i] == '"') {
      part.quoted = true;
      ++i;
      while (true) {
        if (i >= text.size())
          return error(Code::invalid_argument,
                       "unterminated quote in name pattern '" + p.text_ + "'");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {  // "" is a literal quote
            part.text += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        part.text += text[i++];
      }
    } else {
      while (i < text.size() && text[i] != '.') {
        if (text[i] == '"')
          return error(Code::invalid_argument, "a quote may only open a part of '" + p.text_ + "'");
        part.text += text[i++];
      }
    }
    if (part.text.empty())
      return error(Code::invalid_argument, "empty part in name pattern '" + p.text_ + "'");
    p.parts_.push_back(std::move(part));
    if (i >= text.size()) break;
    if (text[i] != '.')
      return error(Code::invalid_argument, "expected '.' after a quoted part in '" + p.text_ + "'");
    ++i;
  }
  if (p.parts_.size() < 2 || p.parts_.size() > 4)
    return error(Code::invalid_argument,
                 "name pattern '" + p.text_ + "' must be schema.table or schema.table.column");
  return p;
}

bool NamePattern::part_matches(const Part& p, std::string_view value) {
  if (p.quoted) return p.text == value;
  return glob_match(p.text, value, true);
}

bool NamePattern::matches_parts(std::string_view dotted, std::size_t n) const {
  bool more = true;
  std::string_view part;
  for (std::size_t i = 0; i < n; ++i)
    if (!next_part(dotted, more, part) || !part_matches(parts_[i], part)) return false;
  return !more;  // exactly n parts
}

bool NamePattern::matches_name(std::string_view dotted) const {
  return matches_parts(dotted, parts_.size());
}

bool NamePattern::matches_relation(std::string_view qualified) const {
  return matches_parts(qualified, parts_.size() == 3 ? 2 : parts_.size());
}

bool NamePattern::matches_column(std::string_view relation, std::string_view column) const {
  if (parts_.size() != 3) return false;
  if (!matches_relation(relation)) return false;
  return column == "*" || part_matches(parts_[2], column);
}

}  // namespace sluice::policy
