// AuditRecorder: the pipeline's recorder (hook::StatementRecorder). It writes a record for
// every session start and end, every statement with its analysis and decision (refusals
// included), and every result as the client received it, up to a per-statement cap.
//
// When the log cannot take a record, an allowed statement is refused instead (fail closed);
// with durability fsync, an allowed statement waits for its record (Decision::durable_after).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "audit/audit_log.h"
#include "hook/statement_stage.h"
#include "sql/facts.h"

namespace sluice::audit {

struct RecorderOptions {
  std::uint64_t result_rows = 1000;
  std::uint64_t result_bytes = 1ull << 20;
};

class AuditRecorder final : public hook::StatementRecorder {
 public:
  // `on_objects` receives, at session end, the tables and columns the session touched (for
  // the state store's session index); called on the session's thread.
  using ObjectsSink =
      std::function<void(const std::string& session_id, std::vector<std::string> objects)>;

  AuditRecorder(AuditLog& log, RecorderOptions options, ObjectsSink on_objects = {});

  void on_decision(hook::StatementEvent& event, hook::Decision& decision) override;
  void on_session_start(const hook::SessionInfo& session) override;
  void on_session_end(const hook::SessionInfo& session, std::string_view reason) override;

 private:
  struct SessionState {
    std::uint64_t statements = 0;
    std::set<std::string> objects;
    std::shared_ptr<const sql::Analysis> last_indexed;
    std::string key;  // scratch for "relation.column"
  };
  AuditLog& log_;
  RecorderOptions options_;
  ObjectsSink on_objects_;
  std::mutex mu_;
  std::map<std::string, SessionState, std::less<>> sessions_;
};

}  // namespace sluice::audit
