#include "policy/engine.h"

#include <algorithm>

namespace sluice::policy {
namespace {

bool any_glob(const std::vector<std::string>& pats, std::string_view s) {
  return std::any_of(pats.begin(), pats.end(),
                     [&](const std::string& p) { return glob_match(p, s); });
}

// A relation pattern matches a relation read, or any column of it used anywhere (the WHERE
// or RETURNING of an UPDATE reads the table it writes); a column pattern matches a column use.
bool reads_match(const NamePattern& p, const sql::Facts& f) {
  if (p.parts() == 3) {
    return std::any_of(f.columns.begin(), f.columns.end(), [&](const sql::ColumnUse& u) {
      return p.matches_column(u.relation, u.column);
    });
  }
  return std::any_of(f.reads.begin(), f.reads.end(),
                     [&](const std::string& r) { return p.matches_relation(r); }) ||
         std::any_of(f.columns.begin(), f.columns.end(), [&](const sql::ColumnUse& u) {
           return !u.relation.empty() && p.matches_relation(u.relation);
         });
}

bool writes_match(const NamePattern& p, const sql::Facts& f) {
  return std::any_of(f.writes.begin(), f.writes.end(),
                     [&](const std::string& w) { return p.matches_relation(w); });
}

// Scope lists hold names that may leave out leading parts: "orders" means any schema's
// orders, "orders.id" any schema's orders.id.
bool in_scope_list(const std::vector<std::string>& list, std::string_view qualified, int parts) {
  for (const auto& item : list) {
    std::string full = item;
    for (auto dots = std::count(item.begin(), item.end(), '.'); dots + 1 < parts; ++dots)
      full = "*." + full;
    auto p = NamePattern::parse(full);
    if (!p) continue;
    if (parts == 2 ? p->matches_relation(qualified) : p->matches_name(qualified)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> check_scope(const sql::Facts& f, const hook::GrantScope& scope) {
  if (scope.access == hook::GrantScope::Access::read) {
    for (sql::Kind k : f.effects)
      if (sql::is_write(k))
        return "this grant is read-only and the statement is a " + std::string(sql::to_string(k));
    if (!f.writes.empty())
      return "this grant is read-only and the statement writes " + f.writes.front();
    if (f.read_write_transaction)
      return std::string("this grant is read-only; READ WRITE transactions are not allowed");
  }
  if (!scope.tables.empty()) {
    // The relations the statement names: a grant on a view covers what the view shows.
    for (const auto& r : f.named)
      if (!in_scope_list(scope.tables, r, 2)) return "this grant does not cover " + r;
    for (const auto& w : f.writes)
      if (!in_scope_list(scope.tables, w, 2)) return "this grant does not cover " + w;
  }
  if (!scope.columns.empty()) {
    for (const auto& u : f.columns) {
      if (u.column == "*")
        return "this grant covers some columns of " + u.relation + ", not all of them";
      std::string full = u.relation + "." + u.column;
      if (!in_scope_list(scope.columns, full, 3))
        return "this grant does not cover the column " + full;
    }
  }
  return std::nullopt;
}

bool matches(const Condition& c, const sql::Facts& f, const EvalContext& ctx) {
  const auto& s = ctx.session;
  if (!c.identities.empty() && !any_glob(c.identities, s.identity)) return false;
  if (!c.groups.empty() &&
      !std::any_of(s.groups.begin(), s.groups.end(),
                   [&](const std::string& g) { return any_glob(c.groups, g); }))
    return false;
  if (!c.roles.empty() && !any_glob(c.roles, s.role)) return false;
  if (!c.connections.empty() && !any_glob(c.connections, s.connection)) return false;
  if (!c.kinds.empty() &&
      !std::any_of(c.kinds.begin(), c.kinds.end(), [&](sql::Kind k) { return f.has_effect(k); }))
    return false;
  if (!c.reads.empty() && !std::any_of(c.reads.begin(), c.reads.end(),
                                       [&](const NamePattern& p) { return reads_match(p, f); }))
    return false;
  if (!c.writes.empty() && !std::any_of(c.writes.begin(), c.writes.end(),
                                        [&](const NamePattern& p) { return writes_match(p, f); }))
    return false;
  // columns: {where: [...], order: [...]} holds when a listed column is used in any of the
  // listed clauses.
  if (!c.columns.empty()) {
    bool hit = std::any_of(c.columns.begin(), c.columns.end(), [&](const auto& entry) {
      const auto& [clause, pats] = entry;
      return std::any_of(f.columns.begin(), f.columns.end(), [&](const sql::ColumnUse& u) {
        return u.clause == clause &&
               std::any_of(pats.begin(), pats.end(), [&](const NamePattern& p) {
                 return p.matches_column(u.relation, u.column);
               });
      });
    });
    if (!hit) return false;
  }
  if (!c.functions.empty() &&
      !std::any_of(f.functions.begin(), f.functions.end(),
                   [&](const std::string& fn) { return any_glob(c.functions, fn); }))
    return false;
  if (c.has_where && *c.has_where != f.has_where) return false;
  if (c.has_limit && *c.has_limit != f.has_limit) return false;
  if (c.time && !c.time->contains(ctx.now_ms)) return false;
  return true;
}

StatementDecision evaluate(const Policy& policy, const sql::Facts& f, const EvalContext& ctx) {
  StatementDecision d;
  if (auto out = check_scope(f, ctx.session.scope)) {
    d.action = Action::deny;
    d.rule = "grant-scope";
    d.reason = *out;
    return d;
  }
  for (const auto& rule : policy.rules) {
    std::optional<std::string> caught;
    if (rule.check) {
      caught = rule.check(f, ctx);
      if (!caught) continue;
    } else if (!matches(rule.when, f, ctx)) {
      continue;
    }
    if (rule.action == Action::limit) {
      hook::ResultCaps caps;
      caps.max_rows = rule.max_rows;
      caps.max_bytes = rule.max_bytes;
      caps.rule = rule.name;
      d.caps.tighten(caps);
      continue;
    }
    d.action = rule.action;
    d.mode = rule.mode;
    d.rule = rule.name;
    d.reason = rule.reason.empty() && caught ? std::move(*caught) : rule.reason;
    return d;
  }
  d.action = policy.default_for(ctx.session.role);
  if (d.action == Action::deny)
    d.reason = ctx.session.role.empty() || d.action == policy.default_action
                   ? "no rule allows it and the default is deny"
                   : "no rule allows it and role " + ctx.session.role + "'s default is deny";
  return d;
}

}  // namespace sluice::policy
