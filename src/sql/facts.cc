#include "sql/facts.h"

#include <algorithm>
#include <array>

namespace sluice::sql {
namespace {

constexpr std::array<std::pair<Kind, std::string_view>, 34> kKinds{{
    {Kind::select, "select"},
    {Kind::insert, "insert"},
    {Kind::update, "update"},
    {Kind::delete_, "delete"},
    {Kind::merge, "merge"},
    {Kind::copy_to, "copy_to"},
    {Kind::copy_from, "copy_from"},
    {Kind::create, "create"},
    {Kind::alter, "alter"},
    {Kind::drop, "drop"},
    {Kind::truncate, "truncate"},
    {Kind::grant, "grant"},
    {Kind::revoke, "revoke"},
    {Kind::set, "set"},
    {Kind::reset, "reset"},
    {Kind::show, "show"},
    {Kind::transaction, "transaction"},
    {Kind::prepare, "prepare"},
    {Kind::execute, "execute"},
    {Kind::deallocate, "deallocate"},
    {Kind::declare, "declare"},
    {Kind::fetch, "fetch"},
    {Kind::close, "close"},
    {Kind::explain, "explain"},
    {Kind::call, "call"},
    {Kind::do_, "do"},
    {Kind::listen, "listen"},
    {Kind::notify, "notify"},
    {Kind::unlisten, "unlisten"},
    {Kind::lock, "lock"},
    {Kind::vacuum, "vacuum"},
    {Kind::analyze, "analyze"},
    {Kind::discard, "discard"},
    {Kind::utility, "utility"},
}};

constexpr std::array<std::pair<Clause, std::string_view>, 12> kClauses{{
    {Clause::output, "output"},
    {Clause::where, "where"},
    {Clause::join, "join"},
    {Clause::group, "group"},
    {Clause::having, "having"},
    {Clause::order, "order"},
    {Clause::window, "window"},
    {Clause::function_arg, "function_arg"},
    {Clause::returning, "returning"},
    {Clause::set, "set"},
    {Clause::insert_source, "insert_source"},
    {Clause::other, "other"},
}};

}  // namespace

std::string_view to_string(Kind k) {
  for (const auto& [kind, name] : kKinds)
    if (kind == k) return name;
  return "utility";
}

std::optional<Kind> parse_kind(std::string_view s) {
  for (const auto& [kind, name] : kKinds)
    if (name == s) return kind;
  if (s == "copy") return std::nullopt;  // ambiguous: say copy_to or copy_from
  return std::nullopt;
}

bool is_write(Kind k) {
  switch (k) {
    case Kind::select:
    case Kind::copy_to:
    case Kind::show:
    case Kind::transaction:
    case Kind::prepare:
    case Kind::execute:
    case Kind::deallocate:
    case Kind::declare:
    case Kind::fetch:
    case Kind::close:
    case Kind::explain:
    case Kind::listen:
    case Kind::unlisten:
    case Kind::set:
    case Kind::reset:
    case Kind::discard:
      return false;
    default:
      return true;
  }
}

std::string_view to_string(Clause c) {
  for (const auto& [clause, name] : kClauses)
    if (clause == c) return name;
  return "other";
}

std::optional<Clause> parse_clause(std::string_view s) {
  for (const auto& [clause, name] : kClauses)
    if (name == s) return clause;
  return std::nullopt;
}

bool Facts::has_effect(Kind k) const {
  return std::find(effects.begin(), effects.end(), k) != effects.end();
}

}  // namespace sluice::sql
