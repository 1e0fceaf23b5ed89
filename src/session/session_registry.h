// SessionRegistry: the process-wide index of live sessions.
//
// It issues the cancel keys clients see (BackendKeyData) and maps them back to sessions, and
// it finds the sessions to end when a grant is revoked or the gateway drains. Keys carry the
// node id in the high bits of the process id, so a cancel request that lands on another node
// can be recognised (DESIGN.md, "Cancel keys"). Every method is thread-safe; actions on a
// session are posted to that session's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/asio.h"
#include "proto/pg/frontend.h"

namespace sluice::session {

enum class EndReason : std::uint8_t {
  client_closed,
  client_error,
  upstream_closed,
  upstream_error,
  grant_expired,
  grant_revoked,
  idle_in_transaction,
  shutdown,
  handshake_failed,
};
std::string_view to_string(EndReason r);

// What the registry can ask of a session. Called on the session's executor.
class SessionControl {
 public:
  virtual ~SessionControl() = default;
  virtual void request_end(EndReason reason, std::string detail) = 0;
  virtual void request_cancel() = 0;  // cancel the running statement upstream
  virtual void request_drain() = 0;   // end once the running statement has finished
};

class SessionRegistry {
 public:
  explicit SessionRegistry(int node_id) : node_id_(node_id) {}

  struct Registration {
    sluice::pg::CancelKey key;
  };
  Registration add(std::shared_ptr<SessionControl> s, net::asio::any_io_executor ex,
                   std::string session_id, std::string grant_id);
  void remove(std::int32_t pid);

  // Routes a cancel request; false when no session holds this key on this node.
  bool cancel(sluice::pg::CancelKey key);
  // Ends every session of a grant; returns how many were asked.
  int end_grant(const std::string& grant_id, EndReason reason, const std::string& detail);
  void drain_all();
  void end_all(EndReason reason, const std::string& detail);
  std::size_t size() const;
  int node_id() const { return node_id_; }
  static int node_of(std::int32_t pid) { return (pid >> 22) & 0xFF; }

 private:
  struct Entry {
    std::weak_ptr<SessionControl> session;
    net::asio::any_io_executor ex;
    std::int32_t secret;
    std::string session_id;
    std::string grant_id;
  };
  void post(const Entry& e, std::function<void(SessionControl&)> fn);

  int node_id_;
  mutable std::mutex mu_;
  std::uint32_t next_ = 1;
  std::unordered_map<std::int32_t, Entry> by_pid_;
};

}  // namespace sluice::session
