// The per-statement hook (DESIGN.md, "The hook"): every protocol adapter turns each statement
// it is about to forward into a StatementEvent and asks the StatementPipeline for a Decision.
//
// Stages run in order on the session's thread and must not block: anything slow (a reviewer,
// a remote store) is expressed as a Hold. A stage that refuses ends the run; later stages do
// not see the statement. The pipeline is built once at start-up and shared by all sessions,
// so stages keep per-session state out of themselves (or key it by session id) and are
// thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hook/decision.h"
#include "hook/session_info.h"

namespace sluice::sql {
struct Analysis;  // what the analyzer learned (src/sql)
}

namespace sluice::hook {

// Where a statement entered the protocol.
enum class Origin : std::uint8_t {
  simple_query,   // PostgreSQL Query message: one or more statements
  prepare,        // PostgreSQL Parse: text analysed once, run later
  execute,        // PostgreSQL Execute of a prepared statement, with bound parameters
  function_call,  // PostgreSQL FunctionCall message (always refused)
  request,        // HTTP-based protocols: one request, one statement text
};

// Per-session memory for stages (SQL-level prepared statements, cursors), owned by the
// protocol adapter and used only on the session's thread.
struct SessionScratch {
  std::map<std::string, std::shared_ptr<const void>, std::less<>> values;
};

struct StatementEvent {
  const SessionInfo& session;
  Origin origin;
  std::string_view text;            // the SQL as the client sent it; valid during the call
  std::string_view statement_name;  // prepared statement name, if any
  std::span<const std::optional<std::string_view>> params;  // bound parameters (execute)
  // Set by the analyzer stage, or carried in from an earlier Parse of the same statement.
  std::shared_ptr<const sql::Analysis> analysis;
  SessionScratch* scratch = nullptr;
  // Per parameter: 1 when the client sent it in binary format (empty: all text).
  std::span<const std::uint8_t> param_binary;
};

class StatementStage {
 public:
  virtual ~StatementStage() = default;
  virtual std::string_view name() const = 0;
  virtual void on_statement(StatementEvent& event, Decision& decision) = 0;
  virtual void on_session_start(const SessionInfo& session) { (void)session; }
  virtual void on_session_end(const SessionInfo& session, std::string_view reason) {
    (void)session;
    (void)reason;
  }
};

// Sees every statement with the pipeline's final decision, refusals included (the audit).
// It may still turn an allow into a refusal (when it cannot record the statement), add
// result observers, and set Decision::durable_after.
class StatementRecorder {
 public:
  virtual ~StatementRecorder() = default;
  virtual void on_decision(StatementEvent& event, Decision& decision) = 0;
  virtual void on_session_start(const SessionInfo& session) = 0;
  virtual void on_session_end(const SessionInfo& session, std::string_view reason) = 0;
};

class StatementPipeline {
 public:
  void add(std::shared_ptr<StatementStage> stage) { stages_.push_back(std::move(stage)); }
  void set_recorder(std::shared_ptr<StatementRecorder> r) { recorder_ = std::move(r); }
  bool empty() const { return stages_.empty() && !recorder_; }

  Decision decide(StatementEvent& event) const {
    Decision d;
    for (const auto& s : stages_) {
      s->on_statement(event, d);
      if (d.verdict == Verdict::refuse) break;
    }
    if (recorder_) recorder_->on_decision(event, d);
    return d;
  }
  void session_started(const SessionInfo& info) const {
    for (const auto& s : stages_) s->on_session_start(info);
    if (recorder_) recorder_->on_session_start(info);
  }
  void session_ended(const SessionInfo& info, std::string_view reason) const {
    for (const auto& s : stages_) s->on_session_end(info, reason);
    if (recorder_) recorder_->on_session_end(info, reason);
  }

 private:
  std::vector<std::shared_ptr<StatementStage>> stages_;
  std::shared_ptr<StatementRecorder> recorder_;
};

}  // namespace sluice::hook
