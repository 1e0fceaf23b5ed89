// PgRelay: the PostgreSQL relay of one authenticated session, as a state machine with no I/O.
//
// The session coroutine feeds it the bytes each peer sent and writes out what it returns. For
// every client message the relay decides, as pgbouncer does, to pass it through untouched,
// drop it, or replace it; only messages that must be inspected are parsed. It keeps a queue
// of the responses the server owes, in request order, so it always knows which statement a
// server message belongs to (SECURITY.md §6).
//
// Statements go through the hook (hook::StatementPipeline) before they are forwarded:
//  - allow: forwarded; the decision's caps and observers apply to the result.
//  - refuse: never forwarded. In its place the relay sends a statement that fails to parse,
//    so the server raises an error at exactly that point: an open transaction aborts and the
//    rest of an extended-protocol pipeline up to Sync is skipped by the server too (DESIGN.md,
//    "Refusing inside a pipeline or transaction"). The server's error is then replaced by the
//    refusal, so the client sees the gateway's error at the position of its statement.
//  - hold: processing stops at that message until the caller resolves the hold.
// A statement with caps is a barrier: nothing after it is forwarded until its result ends, so
// that when the gateway cuts a result short it can still make the server fail the same way
// the client is told it failed.
//
// Prepared statements and portals: what the gateway believes exists on the server is updated
// only when the server confirms it (ParseComplete, BindComplete, CloseComplete), because
// messages after an error are skipped by the server and must not change the gateway's view.
// Lookups made while requests are in flight are checked against the confirmed view when the
// response arrives; a mismatch ends the session.
//
// One PgRelay belongs to one session and is used from that session's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ring_queue.h"
#include "hook/decision.h"
#include "hook/result_observer.h"
#include "hook/statement_stage.h"
#include "proto/pg/backend.h"
#include "proto/pg/frame.h"
#include "session/pg/output_buffer.h"

namespace sluice::session::pg {

// The name under which refused statements are sent to the server as a failing Parse.
inline constexpr std::string_view kRefusedStatementName = "sluice.refused";
// Text that is certain to fail in the server's raw parser, before anything executes.
inline constexpr std::string_view kRefusedStatementText = "sluice refused this statement";

struct RelayLimits {
  sluice::pg::FrameLimits frames;
  // Server messages at least this large that need no inspection are streamed through in
  // pieces instead of being buffered whole.
  std::size_t stream_threshold = 256 * 1024;
};

class PgRelay {
 public:
  PgRelay(const hook::SessionInfo& session, const hook::StatementPipeline& pipeline,
          RelayLimits limits);
  ~PgRelay();
  PgRelay(const PgRelay&) = delete;
  PgRelay& operator=(const PgRelay&) = delete;

  // ---- client to server ------------------------------------------------------------------
  enum class ClientNext : std::uint8_t {
    need_more,  // feed more bytes (at least `need` in total from `consumed` on, if known)
    hold,       // a statement is held: await `hold`, then call resolve_hold()
    barrier,    // wait until server_step().barrier_released, then call again
    terminate,  // the client said goodbye (Terminate was forwarded)
    fatal,      // protocol error: send fatal_report() to the client and close
  };
  struct ClientStep {
    std::size_t consumed = 0;
    ClientNext next = ClientNext::need_more;
    std::size_t need = 0;
    std::shared_ptr<hook::Hold> hold;
  };
  // Processes as many whole messages from `in` as possible. Bytes before `consumed` are done
  // with once upstream_output() has been written; the caller keeps the rest.
  ClientStep on_client_bytes(Bytes in);
  // Gives the final decision for the held message; the next on_client_bytes() call resumes
  // with that message at the front of its input.
  void resolve_hold(hook::Decision final_decision);
  OutputBuffer& upstream_output() { return to_server_; }
  // The audit ticket that must be durable before upstream_output() is written (0: none);
  // reading it clears it.
  struct AuditBarrier {
    std::uint64_t first = 0, last = 0;  // tickets of the step's statements; 0: none
  };
  AuditBarrier take_audit_barrier() { return std::exchange(audit_barrier_, AuditBarrier{}); }

  // ---- server to client ------------------------------------------------------------------
  struct ServerStep {
    std::size_t consumed = 0;
    std::size_t need = 0;           // bytes needed from `consumed` on, if known
    bool fatal = false;             // send fatal_report() and close
    bool cancel_upstream = false;   // send a CancelRequest for the running statement
    bool barrier_released = false;  // the client side may continue
    bool server_closing = false;    // the server sent a FATAL error; it will close
  };
  ServerStep on_server_bytes(Bytes in);
  OutputBuffer& client_output() { return to_client_; }

  // ---- state -----------------------------------------------------------------------------
  // The server's transaction status from the last ReadyForQuery: 'I', 'T' or 'E'.
  char transaction_status() const { return tx_status_; }
  // No response is owed and nothing is held: a safe point to end the session.
  bool idle() const { return pending_.empty() && stream_remaining_ == 0 && !held_; }
  std::size_t pending_responses() const { return pending_.size(); }
  // A streamed message is partly written: nothing else may be sent to the client now.
  bool mid_message() const { return stream_remaining_ != 0; }
  bool barrier_active() const { return barrier_seq_ != 0; }
  const sluice::pg::ErrorReport& fatal_report() const { return fatal_; }

 private:
  using Columns = std::vector<hook::ResultColumn>;
  struct PreparedStatement {
    std::string name;
    std::string sql;
    std::shared_ptr<const sql::Analysis> analysis;
    // From a Describe of the statement (formats as text; Bind picks the real ones).
    mutable std::shared_ptr<const Columns> columns;
  };

  // Rows and bytes sent for one portal (across Executes that fetch it in pieces) or for one
  // statement of a simple query: what caps are checked against.
  struct ResultCounters {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
  };

  struct Portal {
    std::shared_ptr<const PreparedStatement> stmt;
    std::vector<std::optional<std::string>> params;
    std::vector<std::uint8_t> param_binary;          // per parameter: sent in binary format
    std::vector<std::uint8_t> result_binary;         // Bind's result formats, per column (or one)
    bool all_results_binary = false;                 // a single format code 1 for every column
    mutable std::shared_ptr<const Columns> columns;  // from a Describe of the portal
    // Created at the first capped Execute; shared by every Execute of the portal.
    mutable std::shared_ptr<ResultCounters> counters;
  };

  enum class Kind : std::uint8_t {
    query,               // Query: results until ReadyForQuery
    parse,               // Parse: ParseComplete
    bind,                // Bind: BindComplete
    describe,            // Describe: [ParameterDescription] RowDescription | NoData
    execute,             // Execute: rows, then CommandComplete | EmptyQuery | PortalSuspended
    close,               // Close: CloseComplete
    sync,                // Sync: ReadyForQuery
    refused_query,       // our failing Query in place of a refused one: error, ReadyForQuery
    refused_parse,       // our failing Parse in place of a refused extended message: error
    silent_abort_query,  // our failing Query after a cut result: error, ReadyForQuery, unseen
    silent_abort_parse,  // our failing Parse after a cut result: error, unseen
  };

  struct Pending {
    Kind kind = Kind::sync;
    std::uint64_t seq = 0;
    std::string name;  // statement (parse), portal (bind, execute) or target (close, describe)
    char target = 0;   // close, describe: 'S' or 'P'
    std::shared_ptr<const PreparedStatement> stmt;  // parse, bind, describe
    std::shared_ptr<const Portal> portal;           // bind, execute, describe

    // query, execute: what applies to the result.
    std::vector<std::shared_ptr<hook::ResultObserver>> observers;
    bool columns_told = false;  // execute: observers have the described columns
    hook::ResultCaps caps;
    std::shared_ptr<ResultCounters> counters;
    std::uint64_t rows_this = 0;  // rows of the current result set
    bool cut = false;             // a cap fired: the rest of this result is dropped
    bool oversized = false;       // ... because a row was too large to inspect
    bool reported = false;        // the client has been sent this entry's error; swallow the rest
    bool faked = false;           // ... and the server did not raise it

    std::unique_ptr<hook::Refusal> refusal;  // refused_*
  };
  enum class Handled : std::uint8_t { ok, hold, terminate, fatal };

  Handled handle_client(const sluice::pg::Frame& f, const std::uint8_t* raw);
  Handled on_query(const sluice::pg::Frame& f, const std::uint8_t* raw);
  Handled on_parse(const sluice::pg::Frame& f, const std::uint8_t* raw);
  Handled on_bind(const sluice::pg::Frame& f, const std::uint8_t* raw);
  Handled on_execute(const sluice::pg::Frame& f, const std::uint8_t* raw);
  hook::Decision decide(hook::StatementEvent& ev);
  void refuse_extended(const hook::Refusal& r);
  void refuse_simple(const hook::Refusal& r);
  void inject_silent_abort();
  Handled client_fatal(std::string message);

  void handle_server(const sluice::pg::Frame& f, const std::uint8_t* raw, ServerStep& step);
  void on_result_message(Pending& e, const sluice::pg::Frame& f, const std::uint8_t* raw,
                         ServerStep& step);
  void on_data_row(Pending& e, const sluice::pg::Frame& f, const std::uint8_t* raw,
                   ServerStep& step);
  void on_result_end(Pending& e, const sluice::pg::Frame& f, const std::uint8_t* raw,
                     ServerStep& step);
  void on_ready_for_query(const sluice::pg::Frame& f, const std::uint8_t* raw, ServerStep& step);
  void on_parameter_status(const sluice::pg::Frame& f, const std::uint8_t* raw, ServerStep& step);
  void pop_front(ServerStep& step);
  void skip_to_sync(ServerStep& step);
  void server_fatal(ServerStep& step, std::string message);
  void write_cap_error(const Pending& e);
  void describe_execute_columns(Pending& e);
  bool may_stream(const sluice::pg::Frame& f) const;

  std::shared_ptr<const PreparedStatement> lookup_statement(std::string_view name) const;
  std::shared_ptr<const Portal> lookup_portal(std::string_view name) const;

  const hook::SessionInfo& session_;
  const hook::StatementPipeline& pipeline_;
  RelayLimits limits_;

  OutputBuffer to_server_;
  OutputBuffer to_client_;
  RingQueue<Pending> pending_;
  std::uint64_t next_seq_ = 1;

  // Client side.
  bool skip_until_sync_ = false;   // mirrors the server's skip after an error we caused
  std::uint64_t barrier_seq_ = 0;  // while non-zero, wait for that entry to complete
  enum class Abort : std::uint8_t { none, extended, simple };
  Abort abort_before_next_ = Abort::none;  // a cut-short result the server does not know of
  bool held_ = false;
  AuditBarrier audit_barrier_;  // the audit tickets the upstream output waits for
  std::shared_ptr<hook::Hold> held_hold_;
  hook::Decision held_decision_;            // what the stages decided besides the hold
  std::optional<hook::Decision> resolved_;  // the decision for the held message

  // Confirmed server-side objects. Most drivers use the unnamed statement and portal for
  // every statement, so those live in their own slots rather than in the maps.
  template <class T>
  struct NameTable {
    std::shared_ptr<const T> unnamed;
    std::map<std::string, std::shared_ptr<const T>, std::less<>> named;
    std::shared_ptr<const T> find(std::string_view name) const {
      if (name.empty()) return unnamed;
      auto it = named.find(name);
      return it == named.end() ? nullptr : it->second;
    }
    void set(const std::string& name, std::shared_ptr<const T> v) {
      if (name.empty()) {
        unnamed = std::move(v);
      } else {
        named[name] = std::move(v);
      }
    }
    void erase(std::string_view name) {
      if (name.empty()) {
        unnamed.reset();
      } else if (auto it = named.find(name); it != named.end()) {
        named.erase(it);
      }
    }
    void clear() {
      unnamed.reset();
      named.clear();
    }
  };
  NameTable<PreparedStatement> statements_;
  NameTable<Portal> portals_;

  // Server side.
  char tx_status_ = 'I';
  std::size_t stream_remaining_ = 0;  // bytes of a streamed message still to pass
  bool stream_drop_ = false;          // ... or to drop
  hook::Row row_;                     // scratch for observers
  std::vector<hook::ResultColumn> columns_;

  sluice::pg::ErrorReport fatal_;
  hook::SessionScratch scratch_;  // stages' per-session memory
  // An Execute's bound parameters as the hook sees them, reused from statement to statement.
  std::vector<std::optional<std::string_view>> execute_params_;
};

}  // namespace sluice::session::pg
