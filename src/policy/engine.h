// The policy engine: a statement's facts, the session's grant and the rules in, a decision
// out. Pure and deterministic (the clock is passed in); safe on any thread.
//
// Order (DESIGN.md, "Policy evaluation"): the grant's scope is checked first; then the rules
// in order, where the first allow, deny or approval that matches decides and limit rules add
// caps without deciding; if nothing decides, the policy's default applies.
#pragma once

#include <string>

#include "hook/decision.h"
#include "policy/rules.h"
#include "sql/facts.h"

namespace sluice::policy {

struct StatementDecision {
  Action action = Action::allow;  // allow, deny or approval
  ApprovalMode mode = ApprovalMode::fail_fast;
  std::string rule;  // the deciding rule; "" for the default
  std::string reason;
  hook::ResultCaps caps;
};

StatementDecision evaluate(const Policy& policy, const sql::Facts& facts, const EvalContext& ctx);

// The grant's scope alone (read-only, tables, columns): a reason when the statement is
// outside it.
std::optional<std::string> check_scope(const sql::Facts& facts, const hook::GrantScope& scope);

// True when a rule's condition holds for the statement.
bool matches(const Condition& c, const sql::Facts& facts, const EvalContext& ctx);

}  // namespace sluice::policy
