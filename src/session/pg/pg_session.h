// PgSession: one PostgreSQL client connection, from its first byte to its close.
//
// One coroutine per connection, on one thread, so the protocol reads top to bottom:
//   startup    SSLRequest / GSSENCRequest / CancelRequest / StartupMessage (size-limited)
//   auth       SCRAM-SHA-256 against the identity's token verifiers (cleartext only on TLS)
//   connect    the upstream server with the gateway's credential
//   relay      client->server and server->client loops around PgRelay, plus a supervisor
//              that ends the session when the grant's window closes, it is revoked, the
//              transaction idles too long, or the gateway drains.
// Every wait has a timeout (SECURITY.md §6). A session that ends for a reason of the
// gateway's tells the client why in a FATAL `sluice:` error when the stream is at a message
// boundary; docs/design/error_codes.md lists the codes.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "hook/session_info.h"
#include "net/stream.h"
#include "proto/pg/backend.h"
#include "session/input_buffer.h"
#include "session/pg/relay.h"
#include "session/pg/upstream.h"
#include "session/services.h"

namespace sluice::session::pg {

class PgSession final : public SessionControl, public std::enable_shared_from_this<PgSession> {
 public:
  PgSession(SessionServices& services, net::tcp::socket socket);
  ~PgSession() override;

  // Runs the whole connection. Spawn with the socket's executor.
  net::awaitable<void> run();

  void request_end(EndReason reason, std::string detail) override;
  void request_cancel() override;
  void request_drain() override;

 private:
  enum class Startup : std::uint8_t { proceed, cancel_handled, failed };

  net::awaitable<Startup> startup();
  net::awaitable<bool> authenticate();
  net::awaitable<bool> connect();
  net::awaitable<void> relay();
  net::awaitable<void> client_to_server();
  // Waits until the audit log has made `ticket` durable; false if it never will.
  net::awaitable<bool> audit_durable(std::uint64_t first, std::uint64_t last);
  net::awaitable<void> server_to_client();
  net::awaitable<void> supervise();
  net::awaitable<std::optional<hook::Decision>> wait_hold(std::shared_ptr<hook::Hold> hold);
  net::awaitable<bool> write_client(std::span<const Bytes> segments);
  net::awaitable<bool> write_client(std::string_view bytes);
  net::awaitable<void> send_fatal(const sluice::pg::ErrorReport& e);
  net::awaitable<std::optional<sluice::pg::Frame>> read_client_frame();

  void end(EndReason reason, std::optional<sluice::pg::ErrorReport> message = std::nullopt);
  void poke_supervisor();
  std::chrono::steady_clock::time_point grant_deadline() const;

  SessionServices& svc_;
  std::unique_ptr<net::Stream> client_;
  std::unique_ptr<net::Stream> upstream_;
  std::string peer_;
  InputBuffer client_in_;
  InputBuffer upstream_in_;

  hook::SessionInfo info_;
  const config::Connection* connection_ = nullptr;
  std::vector<std::pair<std::string, std::string>> client_settings_;
  std::vector<std::string> unrecognized_options_;
  sluice::pg::CancelKey client_key_{};
  bool registered_ = false;
  int max_sessions_ = 0;  // the grant's cap on concurrent sessions; 0: none
  sluice::pg::CancelKey upstream_key_{};
  net::tcp::endpoint upstream_endpoint_;
  std::vector<std::pair<std::string, std::string>> upstream_params_;

  std::unique_ptr<PgRelay> relay_;
  std::optional<EndReason> ended_;
  std::optional<sluice::pg::ErrorReport> end_message_;
  bool draining_ = false;
  bool client_writing_ = false;
  int write_waiters_ = 0;
  bool client_broken_ = false;  // a write failed or was cut: nothing more can be sent
  bool upstream_broken_ = false;
  int io_loops_running_ = 0;  // client_to_server and server_to_client
  char last_tx_status_ = 'I';
  bool idle_armed_ = false;  // the supervisor's deadline includes the idle-in-transaction limit
  std::chrono::steady_clock::time_point last_client_activity_;
  std::chrono::steady_clock::time_point busy_since_;  // the relay last went from idle to busy
  net::asio::steady_timer wake_;                      // supervisor
  net::asio::steady_timer barrier_;                   // client loop waiting for a barrier
  net::asio::steady_timer write_turn_;                // waiting for the client stream
  net::asio::steady_timer hold_wake_;                 // waiting for a hold
  std::shared_ptr<hook::Hold> active_hold_;
};

// Answers a connection with a FATAL error and closes it (used for early refusals such as
// "too many sessions", before a session exists).
net::awaitable<void> refuse_connection(net::tcp::socket socket, sluice::pg::ErrorReport e);

}  // namespace sluice::session::pg
