// Gateway: the running `sluice serve` process.
//
// Owns the worker threads (one io_context each, with its own SO_REUSEPORT acceptor, so the
// kernel spreads connections and a session never leaves its thread), the blocking pool for
// state store calls, the session registry, and a watcher that applies the store's change feed
// to live sessions (a revocation ends them within a second), and the admin listener's thread.
// SIGTERM drains: no new sessions, running statements finish, then the process exits; a second
// signal stops at once. SIGTERM and SIGINT are caught from the start of start(): one that
// arrives before or while it reads the connections' catalogs stops the gateway there (no
// audit log is open yet); one that arrives later in start-up is acted on as soon as run()
// begins, so a stop by either never leaves the audit log unsealed.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "admin/api.h"
#include "admin/http_server.h"
#include "config/config.h"
#include "core/status.h"
#include "hook/statement_stage.h"
#include "identity/oidc.h"
#include "net/asio.h"
#include "session/services.h"
#include "sql/connection_analyzer.h"
#include "store/state_store.h"

namespace sluice::app {

class Gateway {
 public:
  explicit Gateway(config::Config config);
  ~Gateway();

  // Opens the store, builds TLS contexts and binds the listeners. Errors say what to fix.
  // A SIGTERM or SIGINT while it reads the connections' catalogs ends start-up early: run()
  // then returns at once.
  Status start();
  // Serves until drained after a signal. Returns the process exit code.
  int run();

 private:
  struct Worker;
  net::awaitable<void> accept_loop(Worker& w);
  void watch_changes();
  void refresh_catalogs();
  net::awaitable<void> refresh_read(
      const config::Connection* c,
      std::optional<Result<std::shared_ptr<sql::SnapshotCatalog>>>* out);
  // False when a signal arrived while reading.
  bool read_catalogs_at_start(std::chrono::milliseconds timeout);
  net::awaitable<void> read_catalog(const config::Connection* c,
                                    std::shared_ptr<sql::ConnectionAnalyzer> analyzer,
                                    std::chrono::milliseconds timeout);
  void begin_drain();
  Status start_admin();
  Status start_audit();
  void audit_change(const store::Change& c);
  std::vector<std::string> not_ready() const;

  config::Config config_;
  std::unique_ptr<store::StateStore> store_;
  hook::StatementPipeline pipeline_;
  std::unique_ptr<net::asio::thread_pool> blocking_;
  std::unique_ptr<session::SessionRegistry> registry_;
  std::unique_ptr<session::AuthThrottle> throttle_;
  std::unique_ptr<session::SessionServices> services_;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::asio::io_context control_;
  // SIGTERM and SIGINT, caught from the start of start() and waited on while it reads the
  // catalogs, then in run(): Asio keeps a signal that arrives before the wait (the default
  // action would end the process at once).
  std::unique_ptr<net::asio::signal_set> signals_;
  std::atomic<int> sessions_{0};
  std::atomic<bool> stopping_{false};
  bool stopped_at_start_ = false;  // a signal arrived during start-up
  std::thread watcher_;
  std::thread catalog_thread_;
  std::map<std::string, std::shared_ptr<sql::ConnectionAnalyzer>> analyzers_;
  std::uint64_t catalog_generation_ = 0;
  net::asio::io_context catalog_io_;  // the refresh thread's reads; stopped at shutdown
  // The admin listener runs on its own thread, so management traffic and the store calls it
  // makes never delay the data path.
  net::asio::io_context admin_io_;
  std::thread admin_thread_;
  std::unique_ptr<identity::OidcVerifier> oidc_;
  std::unique_ptr<admin::AdminApi> api_;
  std::unique_ptr<admin::HttpServer> http_;
  std::unique_ptr<audit::AuditLog> audit_;
};

}  // namespace sluice::app
