#include "policy/rules.h"

#include <ctime>

#include "policy/baseline.h"

namespace sluice::policy {

std::string_view to_string(Action a) {
  switch (a) {
    case Action::allow:
      return "allow";
    case Action::deny:
      return "deny";
    case Action::approval:
      return "approval";
    case Action::limit:
      return "limit";
  }
  return "?";
}

bool TimeWindow::contains(std::int64_t now_ms) const {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000 + utc_offset_minutes * 60);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int weekday = (tm.tm_wday + 6) % 7;  // Monday = 0
  if (!(days & (1u << weekday))) return false;
  int minute = tm.tm_hour * 60 + tm.tm_min;
  if (from_minute <= to_minute) return minute >= from_minute && minute < to_minute;
  return minute >= from_minute || minute < to_minute;  // wraps midnight
}

namespace {

std::optional<int> parse_clock(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  auto digit = [&](int i) { return s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1; };
  int h = digit(0) * 10 + digit(1), m = digit(3) * 10 + digit(4);
  if (digit(0) < 0 || digit(1) < 0 || digit(3) < 0 || digit(4) < 0 || h > 24 || m > 59 ||
      (h == 24 && m != 0))
    return std::nullopt;
  return h * 60 + m;
}

void read_patterns(config::Reader& r, const YAML::Node& n, const std::string& path,
                   std::vector<NamePattern>& out) {
  auto list = r.string_list(n, path);
  if (!list) return;
  for (const auto& s : *list) {
    auto p = NamePattern::parse(s);
    if (!p) {
      r.fail(n, path, p.status().message());
    } else {
      out.push_back(std::move(*p));
    }
  }
}

void read_condition(config::Reader& r, const YAML::Node& n, const std::string& path, Condition& c) {
  if (!r.is_map(n, path)) return;
  r.only_keys(n, path,
              {"identity", "groups", "roles", "connection", "kind", "reads", "writes", "columns",
               "functions", "has_where", "has_limit", "time"});
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>("");
    std::string kp = path + "." + key;
    const YAML::Node& v = kv.second;
    if (key == "identity") {
      if (auto l = r.string_list(v, kp)) c.identities = *l;
    } else if (key == "groups") {
      if (auto l = r.string_list(v, kp)) c.groups = *l;
    } else if (key == "roles") {
      if (auto l = r.string_list(v, kp)) c.roles = *l;
    } else if (key == "connection") {
      if (auto l = r.string_list(v, kp)) c.connections = *l;
    } else if (key == "kind") {
      auto l = r.string_list(v, kp);
      if (!l) continue;
      for (const auto& k : *l) {
        if (k == "copy") {  // both directions
          c.kinds.push_back(sql::Kind::copy_to);
          c.kinds.push_back(sql::Kind::copy_from);
        } else if (auto kind = sql::parse_kind(k)) {
          c.kinds.push_back(*kind);
        } else {
          r.fail(v, kp, "unknown statement kind '" + k + "' (see docs/policy.md for the list)");
        }
      }
    } else if (key == "reads") {
      read_patterns(r, v, kp, c.reads);
    } else if (key == "writes") {
      read_patterns(r, v, kp, c.writes);
    } else if (key == "columns") {
      if (!r.is_map(v, kp)) continue;
      for (const auto& ckv : v) {
        std::string clause_name = ckv.first.as<std::string>("");
        auto clause = sql::parse_clause(clause_name);
        if (!clause) {
          r.fail(ckv.first, kp + "." + clause_name,
                 "unknown clause; expected output, where, join, group, having, order, window, "
                 "function_arg, returning, set, insert_source or other");
          continue;
        }
        std::vector<NamePattern> pats;
        read_patterns(r, ckv.second, kp + "." + clause_name, pats);
        for (const auto& p : pats)
          if (p.parts() != 3)
            r.fail(ckv.second, kp + "." + clause_name,
                   "'" + p.text() + "' is not a column (expected schema.table.column)");
        c.columns.emplace_back(*clause, std::move(pats));
      }
    } else if (key == "functions") {
      if (auto l = r.string_list(v, kp)) c.functions = *l;
    } else if (key == "has_where") {
      c.has_where = r.boolean(v, kp);
    } else if (key == "has_limit") {
      c.has_limit = r.boolean(v, kp);
    } else if (key == "time") {
      if (!r.is_map(v, kp)) continue;
      r.only_keys(v, kp, {"from", "to", "days", "utc_offset"});
      TimeWindow w;
      if (v["from"]) {
        auto t = parse_clock(v["from"].as<std::string>(""));
        if (!t)
          r.fail(v["from"], kp + ".from", "expected HH:MM");
        else
          w.from_minute = *t;
      }
      if (v["to"]) {
        auto t = parse_clock(v["to"].as<std::string>(""));
        if (!t)
          r.fail(v["to"], kp + ".to", "expected HH:MM");
        else
          w.to_minute = *t;
      }
      if (v["days"]) {
        static const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        w.days = 0;
        if (auto l = r.string_list(v["days"], kp + ".days"))
          for (const auto& d : *l) {
            int idx = -1;
            for (int i = 0; i < 7; ++i)
              if (d == kDays[i]) idx = i;
            if (idx < 0)
              r.fail(v["days"], kp + ".days", "expected mon, tue, wed, thu, fri, sat or sun");
            else
              w.days |= static_cast<std::uint8_t>(1u << idx);
          }
      }
      if (v["utc_offset"]) {
        std::string o = v["utc_offset"].as<std::string>("");
        int sign = o.size() == 6 && (o[0] == '+' || o[0] == '-') ? (o[0] == '-' ? -1 : 1) : 0;
        auto t = sign ? parse_clock(o.substr(1)) : std::nullopt;
        if (!t)
          r.fail(v["utc_offset"], kp + ".utc_offset", "expected +HH:MM or -HH:MM");
        else
          w.utc_offset_minutes = sign * *t;
      }
      c.time = w;
    }
  }
}

}  // namespace

Policy read_policy(config::Reader& r, const YAML::Node& rules, const YAML::Node& default_action) {
  Policy p;
  if (default_action) {
    auto d = r.string(default_action, "default_action");
    if (d && *d == "deny")
      p.default_action = Action::deny;
    else if (d && *d != "allow")
      r.fail(default_action, "default_action", "expected allow or deny");
  }
  if (!rules) return p;
  if (!rules.IsSequence()) {
    r.fail(rules, "rules", "expected a list of rules");
    return p;
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const YAML::Node& n = rules[i];
    std::string path = "rules[" + std::to_string(i) + "]";
    if (!r.is_map(n, path)) continue;
    if (n["include"]) {
      r.only_keys(n, path, {"include", "allow_functions", "allow_settings", "allow_relations"});
      auto what = r.string(n["include"], path + ".include");
      if (what && *what != "agent-baseline") {
        r.fail(n["include"], path + ".include",
               "unknown rule set '" + *what + "'; built in: agent-baseline");
        continue;
      }
      BaselineOptions opt;
      if (n["allow_functions"])
        if (auto l = r.string_list(n["allow_functions"], path + ".allow_functions"))
          opt.allow_functions = *l;
      if (n["allow_settings"])
        if (auto l = r.string_list(n["allow_settings"], path + ".allow_settings"))
          opt.allow_settings = *l;
      if (n["allow_relations"])
        read_patterns(r, n["allow_relations"], path + ".allow_relations", opt.allow_relations);
      for (auto& rule : agent_baseline(opt)) p.rules.push_back(std::move(rule));
      continue;
    }
    r.only_keys(n, path, {"name", "when", "action", "mode", "reason", "max_rows", "max_bytes"});
    Rule rule;
    if (!n["name"]) {
      r.fail(n, path, "missing required key 'name'");
    } else if (auto s = r.string(n["name"], path + ".name")) {
      rule.name = *s;
      if (std::find(names.begin(), names.end(), *s) != names.end())
        r.fail(n["name"], path + ".name", "another rule is already named '" + *s + "'");
      names.push_back(*s);
    }
    if (n["when"]) read_condition(r, n["when"], path + ".when", rule.when);
    std::string action = n["action"] ? r.string(n["action"], path + ".action").value_or("") : "";
    if (action == "allow")
      rule.action = Action::allow;
    else if (action == "deny")
      rule.action = Action::deny;
    else if (action == "approval")
      rule.action = Action::approval;
    else if (action == "limit")
      rule.action = Action::limit;
    else
      r.fail(n["action"] ? n["action"] : n, path + ".action",
             "expected allow, deny, approval or limit");
    if (n["mode"]) {
      auto m = r.string(n["mode"], path + ".mode");
      if (m && *m == "hold")
        rule.mode = ApprovalMode::hold;
      else if (m && *m == "fail_fast")
        rule.mode = ApprovalMode::fail_fast;
      else
        r.fail(n["mode"], path + ".mode", "expected hold or fail_fast");
      if (rule.action != Action::approval)
        r.fail(n["mode"], path + ".mode", "mode applies to approval rules only");
    }
    if (n["reason"]) rule.reason = r.string(n["reason"], path + ".reason").value_or("");
    if (n["max_rows"]) {
      if (auto v = r.integer(n["max_rows"], path + ".max_rows", 1, INT64_MAX))
        rule.max_rows = static_cast<std::uint64_t>(*v);
    }
    if (n["max_bytes"]) {
      if (auto v = r.size(n["max_bytes"], path + ".max_bytes")) rule.max_bytes = *v;
    }
    if (rule.action == Action::limit && !rule.max_rows && !rule.max_bytes)
      r.fail(n, path, "a limit rule needs max_rows or max_bytes");
    if (rule.action != Action::limit && (rule.max_rows || rule.max_bytes))
      r.fail(n, path, "max_rows and max_bytes belong to limit rules");
    p.rules.push_back(std::move(rule));
  }
  return p;
}

}  // namespace sluice::policy
