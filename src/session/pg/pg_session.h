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
#include "net/ready_watch.h"
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

  // Each relay loop is a coroutine around a pass: a plain function that runs the loop's body
  // from where it last stopped until it must wait, and says for what. The coroutine does the
  // waiting. A loop that only needs to read more, on a plain-TCP session, parks instead: its
  // socket has a ReadyWatch, and each arrival runs the next pass directly from Asio's reactor,
  // without an operation, a completion or the coroutine; the first pass that must wait for
  // anything else unparks the loop, and the coroutine carries on from that point.
  enum class At : std::uint8_t { process, write, after_write };  // where a pass resumes
  enum class Stop : std::uint8_t {
    read,        // wait for more bytes from the peer
    audit,       // client: wait until the statements' records are durable
    write,       // the peer took part of the output: write the rest
    write_turn,  // server: another writer has the client stream; wait for it
    hold,        // client: a statement is held
    barrier,     // client: wait for the barrier's result to end
    exit,        // the loop is done
  };
  struct ClientPass {
    At at = At::process;
    PgRelay::ClientStep step;
    PgRelay::AuditBarrier barrier;
    std::size_t written = 0;
  };
  struct ServerPass {
    At at = At::process;
    PgRelay::ServerStep step;
    std::size_t written = 0;
    bool server_closing = false;  // the server sent a FATAL error; it will close
  };
  Stop client_pass(ClientPass& p);
  Stop server_pass(ServerPass& p);
  Stop wait_for_bytes(InputBuffer& in, std::size_t need, EndReason too_large, const char* sqlstate,
                      const char* message);
  void finish_client_write(const net::error_code& ec);

  // A relay loop's reading side: parked (its socket watched), or reading through Asio
  // (read_more); either way `read_error` says why a read failed.
  struct Parking final : net::ReadyWatch::Watcher {
    Parking(PgSession& s, bool client_side, const net::asio::any_io_executor& ex)
        : session(s), client(client_side), wake(ex) {}
    void on_ready(bool hangup) override;
    PgSession& session;
    const bool client;
    bool parked = false;
    bool hangup = false;         // the peer closed or reset: read to the end, not to a short read
    bool continuing = false;     // a posted on_parked_ready goes on reading (kReadsPerTurn)
    Stop stop = Stop::read;      // why the loop was unparked
    net::error_code read_error;  // ... with Stop::read: the read failed
    net::asio::steady_timer wake;
    net::ReadyWatch watch;  // running while the session relays, on plain TCP both sides
  };
  // Waits for more bytes for the loop of `k` and runs its passes on them until one stops for
  // anything but more bytes: returns that stop, or Stop::read with k.read_error when a read
  // failed (end of stream included). Parks when the loop's socket is watched.
  net::awaitable<Stop> read_more(Parking& k);
  // `n` bytes were read into the buffer of `k`'s loop: runs its next pass from the top.
  Stop bytes_arrived(Parking& k, std::size_t n);
  // Runs passes while bytes arrive; unparks the loop when a pass stops for anything else.
  // At most kReadsPerTurn reads per call; a posted call goes on.
  void on_parked_ready(Parking& k);
  static constexpr int kReadsPerTurn = 16;
  void unpark(Parking& k, Stop why, net::error_code read_error = {});
  net::awaitable<Stop> park(Parking& k);
  void stop_watching();
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
  ClientPass client_pass_;
  ServerPass server_pass_;
  Parking client_parking_;
  Parking server_parking_;
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
