// PolicyStage: the analyzer and the policy engine as a hook stage.
//
// For each statement event: analyse the text (from the cache, or reuse the analysis of the
// Parse that prepared it while the catalog is unchanged), evaluate every statement in the
// message, and decide for the message as a whole: one refused statement refuses the message;
// otherwise an approval rule makes it wait; caps from limit rules are combined. Text that
// cannot be analysed is refused (fail closed).
//
// Shared by all sessions; per-session state (SQL PREPARE names) lives in the event's
// scratch. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "hook/statement_stage.h"
#include "policy/engine.h"
#include "sql/connection_analyzer.h"

namespace sluice::policy {

class PolicyStage final : public hook::StatementStage {
 public:
  PolicyStage(std::shared_ptr<const Policy> policy,
              std::map<std::string, std::shared_ptr<sql::ConnectionAnalyzer>> analyzers);

  std::string_view name() const override { return "policy"; }
  void on_statement(hook::StatementEvent& event, hook::Decision& decision) override;

  // The decision for one analysed message, without the data path (sluice policy check).
  static std::vector<StatementDecision> decide_all(const Policy& policy, const sql::Analysis& a,
                                                   const EvalContext& ctx,
                                                   hook::SessionScratch* scratch);

 private:
  std::shared_ptr<const Policy> policy_;
  std::map<std::string, std::shared_ptr<sql::ConnectionAnalyzer>> analyzers_;
};

// How a refusal reads to the client.
hook::Refusal refusal_for(const StatementDecision& d, const hook::SessionInfo& session);
hook::Refusal parse_refusal(const sql::Analysis& a);

}  // namespace sluice::policy
