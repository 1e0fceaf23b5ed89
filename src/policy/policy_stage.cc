#include "policy/policy_stage.h"

#include <algorithm>

#include "core/time.h"

namespace sluice::policy {
namespace {

constexpr std::string_view kPreparedPrefix = "sql.prepared:";

std::string prepared_key(std::string_view name) {
  return std::string(kPreparedPrefix) + std::string(name);
}

}  // namespace

PolicyStage::PolicyStage(std::shared_ptr<const Policy> policy,
                         std::map<std::string, std::shared_ptr<sql::ConnectionAnalyzer>> analyzers)
    : policy_(std::move(policy)), analyzers_(std::move(analyzers)) {}

std::vector<StatementDecision> PolicyStage::decide_all(const Policy& policy, const sql::Analysis& a,
                                                       const EvalContext& ctx,
                                                       hook::SessionScratch* scratch) {
  std::vector<StatementDecision> out;
  for (const auto& f : a.statements) {
    const sql::Facts* subject = &f;
    std::shared_ptr<const sql::Facts> prepared;
    if (f.kind == sql::Kind::execute) {
      // EXECUTE runs what PREPARE stored: decide on that.
      if (scratch) {
        auto it = scratch->values.find(prepared_key(f.name));
        if (it != scratch->values.end())
          prepared = std::static_pointer_cast<const sql::Facts>(it->second);
      }
      if (!prepared) {
        StatementDecision d;
        d.action = Action::deny;
        d.rule = "prepared-statements";
        d.reason = "EXECUTE " + f.name +
                   " refers to a statement that was not prepared through "
                   "the gateway in this session";
        out.push_back(std::move(d));
        continue;
      }
      subject = prepared.get();
    }
    StatementDecision d = evaluate(policy, *subject, ctx);
    if (d.action == Action::allow && scratch) {
      if (f.kind == sql::Kind::prepare && f.inner) {
        scratch->values[prepared_key(f.name)] = f.inner;
      } else if (f.kind == sql::Kind::deallocate) {
        if (f.name == "*") {
          for (auto it = scratch->values.begin(); it != scratch->values.end();)
            it = it->first.rfind(kPreparedPrefix, 0) == 0 ? scratch->values.erase(it)
                                                          : std::next(it);
        } else {
          scratch->values.erase(prepared_key(f.name));
        }
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

hook::Refusal parse_refusal(const sql::Analysis& a) {
  hook::Refusal r;
  r.sqlstate = "42601";
  r.rule = "parser";
  r.message = "sluice: the gateway could not parse this statement (" + a.error +
              (a.error_position > 0 ? " at character " + std::to_string(a.error_position) : "") +
              "); it was not sent to the database";
  r.hint =
      "Only statements the gateway can analyse are forwarded. Check the SQL for PostgreSQL "
      "15 syntax.";
  return r;
}

hook::Refusal refusal_for(const StatementDecision& d, const hook::SessionInfo& s) {
  hook::Refusal r;
  r.sqlstate = "42501";
  r.rule = d.rule;
  if (d.action == Action::approval) {
    r.message =
        "sluice: approval required by rule " + d.rule + (d.reason.empty() ? "" : ": " + d.reason);
    r.hint =
        "This statement needs a reviewer's approval, which this version of the gateway "
        "does not collect yet; ask an administrator.";
    return r;
  }
  r.message = "sluice: denied by rule " + d.rule + (d.reason.empty() ? "" : ": " + d.reason);
  if (d.rule == "grant-scope") {
    r.hint = "This token's grant does not cover it. Ask for a grant on connection " + s.connection +
             " with the access, tables or columns it needs.";
  } else if (d.rule.rfind("baseline-", 0) == 0) {
    r.hint =
        "The agent-baseline policy blocks this for agents. If it is needed, an administrator "
        "can add a rule for it before the include.";
  } else {
    r.hint = "Ask an administrator for access, or request a grant that covers it.";
  }
  return r;
}

void PolicyStage::on_statement(hook::StatementEvent& ev, hook::Decision& decision) {
  auto it = analyzers_.find(ev.session.connection);
  if (it == analyzers_.end()) {
    hook::Refusal r;
    r.rule = "configuration";
    r.message = "sluice: no analyzer for connection " + ev.session.connection;
    decision = hook::Decision::refuse(r);
    return;
  }
  sql::ConnectionAnalyzer& analyzer = *it->second;
  if (!ev.analysis || !analyzer.current(*ev.analysis)) ev.analysis = analyzer.analyze(ev.text);
  const sql::Analysis& a = *ev.analysis;
  if (!a.ok()) {
    decision = hook::Decision::refuse(parse_refusal(a));
    return;
  }
  // A Parse only prepares: SQL-level PREPARE/DEALLOCATE bookkeeping happens when it runs.
  hook::SessionScratch* scratch = ev.origin == hook::Origin::prepare ? nullptr : ev.scratch;
  EvalContext ctx{ev.session, now_ms()};
  auto decisions = decide_all(*policy_, a, ctx, scratch);
  const StatementDecision* approval = nullptr;
  bool ddl = false;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const auto& d = decisions[i];
    if (d.action == Action::deny) {
      decision = hook::Decision::refuse(refusal_for(d, ev.session));
      return;
    }
    if (d.action == Action::approval && !approval) approval = &d;
    decision.caps.tighten(d.caps);
    const auto& f = a.statements[i];
    ddl |= f.has_effect(sql::Kind::create) || f.has_effect(sql::Kind::alter) ||
           f.has_effect(sql::Kind::drop);
  }
  if (approval) {
    decision = hook::Decision::refuse(refusal_for(*approval, ev.session));
    return;
  }
  // A capped result is cut by cancelling the statement; a write later in the same message
  // could already be running when the cancel lands, so the two may not share a message.
  if (decision.caps.any() && a.statements.size() > 1 &&
      std::any_of(a.statements.begin(), a.statements.end(),
                  [](const sql::Facts& f) { return !f.writes.empty() || sql::is_write(f.kind); })) {
    hook::Refusal r;
    r.rule = decision.caps.rule;
    r.message = "sluice: denied by rule " + decision.caps.rule +
                ": a statement with a result cap cannot share a message with a write";
    r.hint = "Send the capped query and the write as separate statements.";
    decision = hook::Decision::refuse(r);
    return;
  }
  if (ddl) analyzer.mark_stale();
  decision.rule = decisions.empty() ? "" : decisions.front().rule;
}

}  // namespace sluice::policy
