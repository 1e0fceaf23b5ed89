#include "policy/roles.h"

#include <algorithm>

#include "policy/pattern.h"

namespace sluice::policy {
namespace {

bool any_glob(const std::vector<std::string>& pats, std::string_view s) {
  return std::any_of(pats.begin(), pats.end(),
                     [&](const std::string& p) { return glob_match(p, s); });
}

// A scope item is within a role's list when some entry of the list covers it: "orders"
// covers any schema's orders, "public.*" every table in public.
bool within(const std::vector<std::string>& allowed, const std::string& item) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    if (glob_match(a, item, true)) return true;
    // An unqualified allowance covers a qualified request of the same name, and back.
    auto last = [](std::string_view s) {
      auto d = s.rfind('.');
      return d == std::string_view::npos ? s : s.substr(d + 1);
    };
    bool a_bare = a.find('.') == std::string::npos;
    return a_bare && glob_match(a, last(item), true);
  });
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string fmt_ttl(std::int64_t ms) {
  if (ms % 3600'000 == 0) return std::to_string(ms / 3600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

// Why `role` does not allow the request, or nullopt when it does.
std::optional<std::string> refuses(const Role& role, const AccessRequest& r) {
  if (!any_glob(role.connections, r.connection))
    return "role " + role.name + " does not cover connection " + r.connection;
  if (r.ttl_ms > role.max_ttl_ms)
    return "role " + role.name + " allows windows up to " + fmt_ttl(role.max_ttl_ms);
  if (r.write && !role.allow_write) return "role " + role.name + " allows read access only";
  if (!role.tables.empty()) {
    if (r.tables.empty())
      return "role " + role.name +
             " requires the request to name its tables (within: " + join(role.tables) + ")";
    for (const auto& t : r.tables)
      if (!within(role.tables, t)) return "role " + role.name + " does not cover table " + t;
  }
  if (!role.columns.empty()) {
    // An empty column list means every column, which a column-limited role cannot grant.
    if (r.columns.empty())
      return "role " + role.name +
             " requires the request to name its columns (within: " + join(role.columns) + ")";
    for (const auto& c : r.columns)
      if (!within(role.columns, c)) return "role " + role.name + " does not cover column " + c;
  }
  return std::nullopt;
}

std::optional<std::string> not_auto(const Role& role, const AccessRequest& r) {
  const AutoApprove& a = role.auto_approve;
  if (!a.enabled) return "role " + role.name + " approves nothing automatically";
  if (a.read_only && r.write) return "write access needs a reviewer";
  std::int64_t max = a.max_ttl_ms ? a.max_ttl_ms : role.max_ttl_ms;
  if (r.ttl_ms > max) return "windows over " + fmt_ttl(max) + " need a reviewer";
  if (!a.tables.empty()) {
    if (r.tables.empty()) return "requests without a table list need a reviewer";
    for (const auto& t : r.tables)
      if (!within(a.tables, t)) return "access to " + t + " needs a reviewer";
  }
  return std::nullopt;
}

void read_who(config::Reader& rd, const YAML::Node& n, const std::string& path, Who& w) {
  if (!rd.is_map(n, path)) return;
  rd.only_keys(n, path, {"identities", "groups"});
  if (n["identities"])
    if (auto l = rd.string_list(n["identities"], path + ".identities")) w.identities = *l;
  if (n["groups"])
    if (auto l = rd.string_list(n["groups"], path + ".groups")) w.groups = *l;
}

}  // namespace

bool Who::matches(const Principal& p) const {
  if (any_glob(identities, p.identity)) return true;
  return std::any_of(p.groups.begin(), p.groups.end(),
                     [&](const std::string& g) { return any_glob(groups, g); });
}

const Role* Roles::find(std::string_view name) const {
  for (const auto& r : list)
    if (r.name == name) return &r;
  return nullptr;
}

bool holds(const Role& role, const Principal& who) {
  if (who.kind == Principal::Kind::api_key)
    return std::find(who.bound_roles.begin(), who.bound_roles.end(), role.name) !=
           who.bound_roles.end();
  return role.match.matches(who);
}

bool can_review(const Role& role, const Principal& who) {
  return role.reviewers.matches(who);
}

RequestDecision decide_request(const Roles& roles, const Principal& who, const AccessRequest& r) {
  RequestDecision d;
  std::string first_refusal;
  bool holds_any = false;
  for (const auto& role : roles.list) {
    if (!r.role.empty() && role.name != r.role) continue;
    if (!holds(role, who)) continue;
    holds_any = true;
    if (auto why = refuses(role, r)) {
      if (first_refusal.empty()) first_refusal = *why;
      continue;
    }
    d.role = &role;
    if (auto why = not_auto(role, r)) {
      d.outcome = role.reviewers.empty() ? RequestDecision::Outcome::deny
                                         : RequestDecision::Outcome::review;
      d.reason =
          role.reviewers.empty() ? *why + ", and role " + role.name + " has no reviewers" : *why;
      return d;
    }
    d.outcome = RequestDecision::Outcome::approve;
    d.reason = "approved automatically by role " + role.name;
    return d;
  }
  d.outcome = RequestDecision::Outcome::deny;
  if (!holds_any)
    d.reason = r.role.empty() ? who.identity + " holds no role (see roles in the configuration)"
                              : who.identity + " does not hold role " + r.role;
  else
    d.reason = first_refusal;
  return d;
}

Roles read_roles(config::Reader& rd, const YAML::Node& n) {
  Roles out;
  if (!n) return out;
  if (!n.IsSequence()) {
    rd.fail(n, "roles", "expected a list of roles");
    return out;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node& m = n[i];
    std::string path = "roles[" + std::to_string(i) + "]";
    if (!rd.is_map(m, path)) continue;
    rd.only_keys(m, path,
                 {"name", "match", "connections", "max_ttl", "access", "tables", "columns",
                  "max_sessions", "auto_approve", "reviewers", "default"});
    Role role;
    if (auto s = m["name"] ? rd.string(m["name"], path + ".name") : std::nullopt) {
      role.name = *s;
      if (out.find(*s)) rd.fail(m["name"], path + ".name", "another role is named '" + *s + "'");
    } else {
      rd.fail(m, path, "missing required key 'name'");
    }
    if (m["match"]) read_who(rd, m["match"], path + ".match", role.match);
    if (m["connections"]) {
      if (auto l = rd.string_list(m["connections"], path + ".connections")) role.connections = *l;
    }
    if (role.connections.empty())
      rd.fail(m, path + ".connections", "list the connections this role may request");
    if (m["max_ttl"])
      if (auto d = rd.duration(m["max_ttl"], path + ".max_ttl")) role.max_ttl_ms = d->count();
    if (m["access"]) {
      auto a = rd.string(m["access"], path + ".access");
      if (a && *a == "write")
        role.allow_write = true;
      else if (a && *a != "read")
        rd.fail(m["access"], path + ".access", "expected read or write (the most it may ask for)");
    }
    if (m["tables"])
      if (auto l = rd.string_list(m["tables"], path + ".tables")) role.tables = *l;
    if (m["columns"])
      if (auto l = rd.string_list(m["columns"], path + ".columns")) role.columns = *l;
    if (m["max_sessions"])
      if (auto v = rd.integer(m["max_sessions"], path + ".max_sessions", 0, 10000))
        role.max_sessions = static_cast<int>(*v);
    if (const auto& a = m["auto_approve"]) {
      std::string ap = path + ".auto_approve";
      if (rd.is_map(a, ap)) {
        rd.only_keys(a, ap, {"access", "max_ttl", "tables"});
        role.auto_approve.enabled = true;
        if (a["access"]) {
          auto s = rd.string(a["access"], ap + ".access");
          if (s && *s == "write")
            role.auto_approve.read_only = false;
          else if (s && *s != "read")
            rd.fail(a["access"], ap + ".access", "expected read or write");
        }
        if (a["max_ttl"])
          if (auto d = rd.duration(a["max_ttl"], ap + ".max_ttl"))
            role.auto_approve.max_ttl_ms = d->count();
        if (a["tables"])
          if (auto l = rd.string_list(a["tables"], ap + ".tables")) role.auto_approve.tables = *l;
      }
    }
    if (m["reviewers"]) read_who(rd, m["reviewers"], path + ".reviewers", role.reviewers);
    if (m["default"]) {
      auto s = rd.string(m["default"], path + ".default");
      if (s && *s == "deny")
        role.default_action = Action::deny;
      else if (s && *s != "allow")
        rd.fail(m["default"], path + ".default", "expected allow or deny");
    }
    if (role.max_ttl_ms <= 0) rd.fail(m, path + ".max_ttl", "must be positive");
    out.list.push_back(std::move(role));
  }
  return out;
}

}  // namespace sluice::policy
