// AuditRecorder: the pipeline's recorder (hook::StatementRecorder). It writes a record for
// every session start and end, every statement with its analysis and decision (refusals
// included), and every result as the client received it, up to a per-statement cap.
//
// When the log cannot take a record, an allowed statement is refused instead (fail closed);
// with durability fsync, an allowed statement waits for its record (Decision::durable_after).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

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
  ~AuditRecorder() override;

  void on_decision(hook::StatementEvent& event, hook::Decision& decision) override;
  void on_session_start(const hook::SessionInfo& session) override;
  void on_session_end(const hook::SessionInfo& session, std::string_view reason) override;

 private:
  struct SessionState;  // recorder.cc
  // The state of `session`, made if it has none. Sessions are keyed by the address of their
  // SessionInfo, which the adapter keeps for the session's life (a lookup without comparing
  // ids); the id is checked too, so that a SessionInfo whose session never said it ended
  // cannot pass its count to the next one made at that address. The state itself is used only
  // on the session's thread.
  SessionState& state(const hook::SessionInfo& session);

  // The sessions' states, in shards by address, each map guarded by its own lock (not the
  // states in it): the workers look up a state for every statement, and one lock for all
  // was a cache line that every statement of every worker took.
  struct alignas(64) Shard {
    std::mutex mu;
    std::unordered_map<const hook::SessionInfo*, std::unique_ptr<SessionState>> sessions;
  };
  Shard& shard(const hook::SessionInfo& session);

  AuditLog& log_;
  RecorderOptions options_;
  ObjectsSink on_objects_;
  static constexpr int kShardBits = 4;
  std::array<Shard, 1u << kShardBits> shards_;
};

}  // namespace sluice::audit
