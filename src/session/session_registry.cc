#include "session/session_registry.h"

#include "crypto/primitives.h"

namespace sluice::session {

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::client_closed:
      return "client_closed";
    case EndReason::client_error:
      return "client_error";
    case EndReason::upstream_closed:
      return "upstream_closed";
    case EndReason::upstream_error:
      return "upstream_error";
    case EndReason::grant_expired:
      return "grant_expired";
    case EndReason::grant_revoked:
      return "grant_revoked";
    case EndReason::idle_in_transaction:
      return "idle_in_transaction";
    case EndReason::shutdown:
      return "shutdown";
    case EndReason::handshake_failed:
      return "handshake_failed";
  }
  return "unknown";
}

SessionRegistry::Registration SessionRegistry::add(std::shared_ptr<SessionControl> s,
                                                   net::asio::any_io_executor ex,
                                                   std::string session_id, std::string grant_id) {
  std::lock_guard lock(mu_);
  std::int32_t pid;
  do {
    // 8 bits of node id, 22 bits of sequence; always positive, as clients expect of a pid.
    pid = static_cast<std::int32_t>((static_cast<std::uint32_t>(node_id_ & 0xFF) << 22) |
                                    (next_++ & 0x3FFFFF));
  } while (pid == 0 || by_pid_.count(pid));
  std::int32_t secret = static_cast<std::int32_t>(crypto::random_u32());
  by_pid_.emplace(pid, Entry{s, std::move(ex), secret, std::move(session_id), std::move(grant_id)});
  return {{pid, secret}};
}

void SessionRegistry::remove(std::int32_t pid) {
  std::lock_guard lock(mu_);
  by_pid_.erase(pid);
}

void SessionRegistry::post(const Entry& e, std::function<void(SessionControl&)> fn) {
  net::asio::post(e.ex, [weak = e.session, fn = std::move(fn)] {
    if (auto s = weak.lock()) fn(*s);
  });
}

bool SessionRegistry::cancel(sluice::pg::CancelKey key) {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(key.pid);
  if (it == by_pid_.end()) return false;
  std::int32_t a = it->second.secret, b = key.secret;
  if (!crypto::constant_time_equal({reinterpret_cast<const char*>(&a), 4},
                                   {reinterpret_cast<const char*>(&b), 4}))
    return false;
  post(it->second, [](SessionControl& s) { s.request_cancel(); });
  return true;
}

int SessionRegistry::end_grant(const std::string& grant_id, EndReason reason,
                               const std::string& detail) {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [pid, e] : by_pid_) {
    if (e.grant_id != grant_id) continue;
    post(e, [reason, detail](SessionControl& s) { s.request_end(reason, detail); });
    ++n;
  }
  return n;
}

void SessionRegistry::drain_all() {
  std::lock_guard lock(mu_);
  for (const auto& [pid, e] : by_pid_) post(e, [](SessionControl& s) { s.request_drain(); });
}

void SessionRegistry::end_all(EndReason reason, const std::string& detail) {
  std::lock_guard lock(mu_);
  for (const auto& [pid, e] : by_pid_)
    post(e, [reason, detail](SessionControl& s) { s.request_end(reason, detail); });
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mu_);
  return by_pid_.size();
}

}  // namespace sluice::session
