// Rules: what the `rules:` section of the configuration says, as data.
//
// A rule has a name, a condition (`when`), and an action. Conditions are ANDed across keys and
// ORed within a list. `include: agent-baseline` splices in the built-in deny rules
// (baseline.h). Policy evaluation is in engine.h; this file only describes and parses.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/yaml_reader.h"
#include "hook/session_info.h"
#include "policy/pattern.h"
#include "sql/facts.h"

namespace sluice::policy {

enum class Action : std::uint8_t { allow, deny, approval, limit };
enum class ApprovalMode : std::uint8_t { hold, fail_fast };
std::string_view to_string(Action a);

struct TimeWindow {
  int from_minute = 0;       // minutes after midnight, inclusive
  int to_minute = 24 * 60;   // exclusive; may be below from_minute (wraps midnight)
  std::uint8_t days = 0x7F;  // bit 0 = Monday
  int utc_offset_minutes = 0;
  bool contains(std::int64_t now_ms) const;
};

// What evaluation knows besides the statement.
struct EvalContext {
  const hook::SessionInfo& session;
  std::int64_t now_ms = 0;
};

struct Condition {
  std::vector<std::string> identities;  // globs
  std::vector<std::string> groups;
  std::vector<std::string> roles;
  std::vector<std::string> connections;
  std::vector<sql::Kind> kinds;    // matches any effect in the statement
  std::vector<NamePattern> reads;  // relation read, or column read in any clause
  std::vector<NamePattern> writes;
  std::vector<std::pair<sql::Clause, std::vector<NamePattern>>> columns;  // column in a clause
  std::vector<std::string> functions;  // globs over schema.function
  std::optional<bool> has_where;
  std::optional<bool> has_limit;
  std::optional<TimeWindow> time;
};

// A built-in rule's test: returns the reason when the statement is caught.
using Predicate = std::function<std::optional<std::string>(const sql::Facts&, const EvalContext&)>;

struct Rule {
  std::string name;
  Condition when;
  Predicate check;  // built-in rules; user rules have none
  Action action = Action::deny;
  ApprovalMode mode = ApprovalMode::fail_fast;
  std::string reason;  // told to the client
  std::uint64_t max_rows = 0;
  std::uint64_t max_bytes = 0;
};

// Options of `include: agent-baseline`.
struct BaselineOptions {
  std::vector<std::string> allow_functions;  // schema.function globs added to the allowlist
  std::vector<std::string> allow_settings;   // settings an agent may change, added
  std::vector<NamePattern> allow_relations;  // catalog relations an agent may read
};

struct Policy {
  std::vector<Rule> rules;
  Action default_action = Action::allow;
  // Roles that set their own `default`, by role name.
  std::vector<std::pair<std::string, Action>> role_defaults;
  Action default_for(std::string_view role) const {
    for (const auto& [name, a] : role_defaults)
      if (name == role) return a;
    return default_action;
  }
};

// Parses `rules:` (a list). Errors go to the reader.
Policy read_policy(config::Reader& r, const YAML::Node& rules, const YAML::Node& default_action);

}  // namespace sluice::policy
