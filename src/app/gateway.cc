#include "app/gateway.h"

#include <filesystem>

#include "app/audit_setup.h"
#include "audit/recorder.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"
#include "net/run_loop.h"
#include "net/tls.h"
#include "policy/policy_stage.h"
#include "policy/rules.h"
#include "session/pg/catalog_loader.h"
#include "session/pg/pg_session.h"

namespace sluice::app {

using namespace sluice::net;

struct Gateway::Worker {
  // One thread runs each io_context and a session's sockets are only used from that thread,
  // so per-socket locking is skipped; posting from other threads stays locked.
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
};

namespace {

// The message of an exception that ended a coroutine.
std::string what(std::exception_ptr e) {
  if (!e) return "it did not finish";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an unknown exception";
  }
}

}  // namespace

Gateway::Gateway(config::Config config) : config_(std::move(config)) {}

Gateway::~Gateway() {
  stopping_ = true;
  catalog_io_.stop();
  admin_io_.stop();
  if (admin_thread_.joinable()) admin_thread_.join();
  if (watcher_.joinable()) watcher_.join();
  if (catalog_thread_.joinable()) catalog_thread_.join();
  for (auto& w : workers_) {
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  if (blocking_) blocking_->join();
}

Status Gateway::start() {
  signals_ = std::make_unique<asio::signal_set>(control_, SIGTERM, SIGINT);
  std::error_code fec;
  std::filesystem::create_directories(config_.data_dir, fec);
  if (fec)
    return error(Code::io_error, "data_dir " + config_.data_dir.string() + ": " + fec.message());
  std::filesystem::permissions(config_.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, fec);
  auto store = store::open_sqlite_store((config_.data_dir / "state.db").string());
  if (!store) return store.status();
  store_ = std::move(*store);
  auto secret = store_->install_secret();
  if (!secret) return secret.status();

  blocking_ = std::make_unique<asio::thread_pool>(2);
  registry_ = std::make_unique<session::SessionRegistry>(config_.node_id);
  throttle_ = std::make_unique<session::AuthThrottle>(config_.limits.auth_failures_per_minute);
  services_.reset(new session::SessionServices{config_,
                                               *store_,
                                               *blocking_,
                                               *registry_,
                                               *throttle_,
                                               pipeline_,
                                               nullptr,
                                               nullptr,
                                               {},
                                               {},
                                               {},
                                               {}});
  services_->install_secret = *secret;
  services_->node_name = "node-" + std::to_string(config_.node_id);
  // Sessions this node recorded as live died with its previous process.
  if (auto ended =
          store_->end_node_sessions(services_->node_name, store_->now(), "the gateway restarted");
      ended && *ended > 0)
    log::info("gateway", "closed the records of ", *ended,
              " session(s) left open by this node's previous run");
  services_->no_tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (config_.tls.enabled()) {
    auto ctx = make_server_tls(config_.tls);
    if (!ctx) return ctx.status();
    services_->server_tls = *ctx;
  }
  for (const auto& c : config_.connections) {
    if (c.type != config::ConnectionType::postgres) continue;
    auto ctx = make_client_tls(c.postgres.tls, c.postgres.ca_file);
    if (!ctx)
      return error(ctx.status().code(), "connection " + c.name + ": " + ctx.status().message());
    services_->upstream_tls[c.name] = *ctx;
    if (c.postgres.tls != config::UpstreamTls::verify_full)
      log::warn("gateway", "connection ", c.name, " uses tls: ", config::to_string(c.postgres.tls),
                "; the database's identity is not verified (use verify-full off loopback)");
  }

  // Every statement is analysed and decided: an analyzer per connection, with the catalog
  // read now (sessions before a successful read use the offline catalog, which is stricter).
  if (!read_catalogs_at_start(std::chrono::seconds(10))) {
    stopped_at_start_ = true;
    return Status::ok();
  }
  pipeline_.add(std::make_shared<policy::PolicyStage>(config_.policy, analyzers_));
  SLUICE_TRY(start_audit());

  int n = config_.workers > 0 ? config_.workers
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto& ep = *config_.listen_postgres;
  error_code ec;
  auto address = asio::ip::make_address(ep.host, ec);
  if (ec)
    return error(Code::invalid_argument, "listen.postgres: '" + ep.host + "' is not an IP address");
  std::uint16_t port = ep.port;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    auto acc = std::make_unique<tcp::acceptor>(w->io);
    tcp::endpoint endpoint(address, port);
    acc->open(endpoint.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acc->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    if (!ec) acc->bind(endpoint, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return error(Code::unavailable,
                   "listen.postgres: cannot listen on " + ep.to_string() + ": " + ec.message());
    port = acc->local_endpoint().port();  // an ephemeral port is shared by all workers
    w->acceptor = std::move(acc);
    workers_.push_back(std::move(w));
  }
  log::info("gateway", "sluice listening for PostgreSQL clients on ",
            config::Endpoint{ep.host, port}.to_string(), " (", n, " workers",
            config_.busy_poll.count() > 0
                ? ", busy polling " + std::to_string(config_.busy_poll.count()) + "us"
                : std::string(),
            ", node ", config_.node_id, ", state ", (config_.data_dir / "state.db").string(), ")");
  return start_admin();
}

Status Gateway::start_audit() {
  if (!config_.audit.enabled) {
    log::warn("gateway", "audit.enabled is false: sessions are not recorded");
    return Status::ok();
  }
  auto key = audit_signing_key(config_, true);
  if (!key) return key.status();
  audit::AuditOptions o;
  o.dir = config_.audit.dir.string();
  o.durability = static_cast<audit::Durability>(config_.audit.durability);
  o.batch_interval = config_.audit.batch_interval;
  o.segment_bytes = config_.audit.segment_bytes;
  o.checkpoint_interval = config_.audit.checkpoint_interval;
  o.retention_bytes = config_.audit.retention_bytes;
  o.node = services_->node_name;
  std::string node = o.node;
  audit_ = std::make_unique<audit::AuditLog>(
      std::move(o), *key, audit::posix_fs(),
      [this, node](std::uint64_t seq, const audit::Hash& h, std::uint64_t segment) {
        store::AuditHead head{node, seq, audit::hex(h), segment, now_ms()};
        if (Status st = store_->set_audit_head(head); !st.is_ok())
          log::warn("audit", "cannot record the audit head in the state store: ", st.message());
      });
  // The last checkpoint the store saw: the log must still hold it (a log cut while the
  // gateway was down is not continued, and so not re-signed).
  std::optional<std::pair<std::uint64_t, audit::Hash>> witness;
  if (auto h = store_->get_audit_head(node); h && h->has_value())
    if (auto hash = audit::parse_hex_hash((**h).hash)) witness.emplace((**h).seq, *hash);
  Status st = audit_->start(witness);
  if (!st.is_ok())
    log::error("audit", "the audit log at ", config_.audit.dir.string(), " cannot be written (",
               st.message(), "): statements are refused until it can");
  else
    log::info("audit", "recording sessions to ", config_.audit.dir.string(), " (durability ",
              config_.audit.durability == config::AuditConfig::Durability::fsync   ? "fsync"
              : config_.audit.durability == config::AuditConfig::Durability::batch ? "batch"
                                                                                   : "none",
              ", checkpoints signed by key ", key->key_id(), ")");
  audit::RecorderOptions ro;
  ro.result_rows = config_.audit.result_rows;
  ro.result_bytes = config_.audit.result_bytes;
  auto* blocking = blocking_.get();
  auto* store = store_.get();
  pipeline_.set_recorder(std::make_shared<audit::AuditRecorder>(
      *audit_, ro, [blocking, store](const std::string& id, std::vector<std::string> objects) {
        asio::post(*blocking, [store, id, objects = std::move(objects)] {
          if (Status s = store->add_session_objects(id, objects); !s.is_ok())
            log::warn("audit", "cannot index session ", id, ": ", s.message());
        });
      }));
  services_->audit = audit_.get();
  return Status::ok();
}

void Gateway::audit_change(const store::Change& c) {
  if (!audit_) return;
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("event", std::string_view(c.kind))
      .field("subject", std::string_view(c.subject));
  if (c.kind.rfind("grant.", 0) == 0)
    if (auto g = store_->get_grant(c.subject); g && g->has_value()) {
      const auto& gr = **g;
      w.field("identity", std::string_view(gr.identity))
          .field("connection", std::string_view(gr.connection))
          .field("access", std::string_view(gr.access))
          .field("status", store::to_string(gr.status))
          .field("requested_by", std::string_view(gr.requested_by))
          .field("decided_by", std::string_view(gr.decided_by))
          .field("reason", std::string_view(gr.reason))
          .field("decision_reason", std::string_view(gr.decision_reason))
          .field("revoked_by", std::string_view(gr.revoked_by))
          .field("expires_at_ms", gr.expires_at);
      w.key("tables").begin_array();
      for (const auto& t : gr.tables) w.string(t);
      w.end_array();
    }
  w.end_object();
  audit_->append(audit::Kind::grant, std::move(body));
}

Status Gateway::start_admin() {
  metrics::register_gauge("sluice_sessions_active", "Client sessions open now.",
                          [this] { return static_cast<double>(sessions_.load()); });
  oidc_ = std::make_unique<identity::OidcVerifier>(config_.identity.oidc);
  if (!config_.listen_admin) {
    if (oidc_->enabled())
      log::warn("gateway",
                "identity.oidc is configured but listen.admin is not: nothing will "
                "accept OIDC tokens");
    return Status::ok();
  }
  api_ = std::make_unique<admin::AdminApi>(
      admin::ApiDeps{config_, *store_, *oidc_, [this] { return not_ready(); },
                     [this] { return audit_ ? audit_->health() : Status::ok(); }, audit_.get()});
  http_ = std::make_unique<admin::HttpServer>(
      admin_io_, services_->server_tls,
      [this](admin::Request r) { return api_->handle(std::move(r)); });
  const auto& ep = *config_.listen_admin;
  SLUICE_TRY(http_->listen(ep.host, ep.port));
  log::info("gateway", "admin API listening on ", services_->server_tls ? "https://" : "http://",
            config::Endpoint{ep.host, http_->port()}.to_string());
  return Status::ok();
}

std::vector<std::string> Gateway::not_ready() const {
  std::vector<std::string> reasons;
  if (services_->draining) reasons.emplace_back("draining: the gateway is shutting down");
  for (const auto& issuer : oidc_->unavailable())
    reasons.push_back("the signing keys of OIDC issuer " + issuer + " are not available yet");
  if (!store_->last_change_seq()) reasons.emplace_back("the state store is unavailable");
  if (audit_)
    if (Status st = audit_->health(); !st.is_ok())
      reasons.push_back("the audit log cannot be written: " + st.message());
  return reasons;
}

awaitable<void> Gateway::accept_loop(Worker& w) {
  for (;;) {
    auto [ec, socket] = co_await w.acceptor->async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !w.acceptor->is_open()) co_return;
      log::warn("gateway", "accept: ", ec.message());
      asio::steady_timer t(w.io, std::chrono::milliseconds(50));  // e.g. out of descriptors
      co_await t.async_wait(use_nothrow);
      continue;
    }
    if (sessions_.load() >= static_cast<int>(config_.limits.max_sessions)) {
      sluice::pg::ErrorReport e;
      e.severity = "FATAL";
      e.sqlstate = "53300";
      e.message = "sluice: too many connections (limits.max_sessions=" +
                  std::to_string(config_.limits.max_sessions) + ")";
      asio::co_spawn(w.io, session::pg::refuse_connection(std::move(socket), e), asio::detached);
      continue;
    }
    ++sessions_;
    auto s = std::make_shared<session::pg::PgSession>(*services_, std::move(socket));
    asio::co_spawn(w.io, s->run(), [this, s](std::exception_ptr e) {
      --sessions_;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("session", "ended by an internal error: ", ex.what());
        }
      }
    });
  }
}

void Gateway::watch_changes() {
  auto last = store_->last_change_seq();
  std::int64_t seq = last ? *last : 0;
  while (!stopping_) {
    store_->wait_for_change(std::chrono::milliseconds(250));
    auto changes = store_->changes_since(seq, 1000);
    if (!changes) {
      log::warn("gateway", "reading the change feed: ", changes.status().message());
      continue;
    }
    for (const auto& c : *changes) {
      seq = c.seq;
      audit_change(c);
      if (c.kind != store::change_kind::kGrantRevoked) continue;
      std::string detail = "sluice: grant " + c.subject + " was revoked";
      if (auto g = store_->get_grant(c.subject); g && g->has_value()) {
        const auto& gr = **g;
        if (!gr.revoked_by.empty()) detail += " by " + gr.revoked_by;
        detail += " at " + format_utc(gr.revoked_at);
      }
      detail += "; the session was closed";
      int n = registry_->end_grant(c.subject, session::EndReason::grant_revoked, detail);
      if (n > 0) log::info("gateway", "grant ", c.subject, " revoked: ending ", n, " session(s)");
    }
  }
}

void Gateway::refresh_catalogs() {
  std::map<std::string, std::chrono::steady_clock::time_point> last;
  auto now = std::chrono::steady_clock::now();
  for (const auto& [name, a] : analyzers_) last[name] = now;
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (const auto& c : config_.connections) {
      auto it = analyzers_.find(c.name);
      if (it == analyzers_.end() || stopping_) continue;
      auto& analyzer = *it->second;
      auto since = std::chrono::steady_clock::now() - last[c.name];
      bool due = analyzer.stale() || since >= config_.limits.catalog_refresh ||
                 (!analyzer.catalog()->complete() && since >= std::chrono::seconds(5));
      if (!due) continue;
      last[c.name] = std::chrono::steady_clock::now();
      // On catalog_io_, which run() stops at shutdown: a read of a server that does not
      // answer does not hold up the exit for its timeout.
      std::optional<Result<std::shared_ptr<sql::SnapshotCatalog>>> result;
      std::exception_ptr threw;
      catalog_io_.restart();
      if (stopping_) return;
      asio::co_spawn(catalog_io_, refresh_read(&c, &result),
                     [&threw](std::exception_ptr e) { threw = e; });
      catalog_io_.run();
      if (!result) {
        if (stopping_) return;  // stopped mid-read
        log::warn("gateway", "connection ", c.name, ": catalog refresh failed: ", what(threw));
        continue;
      }
      auto& loaded = *result;
      if (loaded) {
        analyzer.set_catalog(*loaded);
        log::debug("gateway", "connection ", c.name, ": catalog refreshed");
      } else {
        log::warn("gateway", "connection ", c.name,
                  ": catalog refresh failed: ", loaded.status().message());
      }
    }
  }
}

net::awaitable<void> Gateway::refresh_read(
    const config::Connection* c,
    std::optional<Result<std::shared_ptr<sql::SnapshotCatalog>>>* out) {
  auto loaded = co_await session::pg::load_catalog_within(
      *c, *services_->upstream_tls[c->name], ++catalog_generation_, std::chrono::seconds(10));
  out->emplace(std::move(loaded));
}

void Gateway::begin_drain() {
  log::info("gateway", "draining: no new sessions; running statements finish (limit ",
            config_.limits.drain_timeout.count(), "ms)");
  services_->draining = true;
  for (auto& w : workers_) {
    asio::post(w->io, [&w] {
      error_code ignored;
      w->acceptor->close(ignored);
    });
  }
  registry_->drain_all();
}

// The catalogs of all connections are read at once, each within `timeout`, on control_ while
// waiting for SIGTERM and SIGINT on signals_ (so a signal that arrived earlier in start-up
// counts too): a signal stops the reads (the gateway then stops instead of serving) rather
// than waiting for them, up to `timeout` for each connection that does not answer. A signal
// after the reads stays pending on signals_ for run().
bool Gateway::read_catalogs_at_start(std::chrono::milliseconds timeout) {
  std::size_t reading = 0;
  for (const auto& c : config_.connections) {
    if (c.type != config::ConnectionType::postgres) continue;
    auto analyzer = std::make_shared<sql::ConnectionAnalyzer>(
        std::make_shared<sql::OfflineCatalog>(c.postgres.search_path));
    analyzers_[c.name] = analyzer;
    ++reading;
    asio::co_spawn(control_, read_catalog(&c, analyzer, timeout), [&](std::exception_ptr e) {
      if (e)
        log::error("gateway", "connection ", c.name, ": reading the catalog failed: ", what(e));
      if (--reading == 0) signals_->cancel();
    });
  }
  if (reading == 0) return true;
  log::info("gateway", "reading the catalogs of ", reading, " connection(s)");
  int signal = 0;
  signals_->async_wait([&](error_code ec, int sig) {
    if (ec) return;
    signal = sig;
    control_.stop();
  });
  control_.run();
  control_.restart();  // for run()
  if (signal == 0) return true;
  log::info("gateway", "received signal ", signal, " while reading the catalogs: stopped");
  return false;
}

net::awaitable<void> Gateway::read_catalog(const config::Connection* c,
                                           std::shared_ptr<sql::ConnectionAnalyzer> analyzer,
                                           std::chrono::milliseconds timeout) {
  auto loaded = co_await session::pg::load_catalog_within(*c, *services_->upstream_tls[c->name],
                                                          ++catalog_generation_, timeout);
  if (loaded) {
    log::info("gateway", "connection ", c->name, ": catalog read (", (*loaded)->relation_count(),
              " relations)");
    analyzer->set_catalog(*loaded);
  } else {
    log::warn("gateway", "connection ", c->name, ": cannot read the catalog yet (",
              loaded.status().message(), "); names resolve without it until it can");
  }
}

int Gateway::run() {
  if (stopped_at_start_) {
    log::info("gateway", "stopped");
    return 0;
  }
  for (auto& w : workers_) {
    asio::co_spawn(w->io, accept_loop(*w), asio::detached);
    w->thread = std::thread([&io = w->io, busy_poll = config_.busy_poll] {
      auto guard = asio::make_work_guard(io);
      net::run_worker(io, busy_poll);
    });
  }
  watcher_ = std::thread([this] { watch_changes(); });
  if (http_) {
    http_->start();
    if (oidc_->enabled()) asio::co_spawn(admin_io_, oidc_->warm_up(), asio::detached);
    admin_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(admin_io_);
      admin_io_.run();
    });
  }
  catalog_thread_ = std::thread([this] { refresh_catalogs(); });

  auto& signals = *signals_;
  asio::steady_timer poll(control_);
  int signals_seen = 0;
  std::chrono::steady_clock::time_point drain_deadline;
  bool forced = false;
  std::function<void()> check_drained = [&] {
    if (registry_->size() == 0 && sessions_.load() == 0) {
      control_.stop();
      return;
    }
    if (!forced && std::chrono::steady_clock::now() >= drain_deadline) {
      forced = true;
      log::warn("gateway", "drain timeout: ending ", registry_->size(), " remaining session(s)");
      // Sessions that did not finish in time are ended now.
      registry_->end_all(session::EndReason::shutdown,
                         "sluice: the gateway is shutting down; the running statement did not "
                         "finish within limits.drain_timeout");
      drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    } else if (forced && std::chrono::steady_clock::now() >= drain_deadline) {
      control_.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(50));
    poll.async_wait([&](error_code ec) {
      if (!ec) check_drained();
    });
  };
  std::function<void(error_code, int)> on_signal = [&](error_code ec, int sig) {
    if (ec) return;
    if (++signals_seen > 1) {
      log::warn("gateway", "second signal: stopping now");
      control_.stop();
      return;
    }
    log::info("gateway", "received signal ", sig);
    begin_drain();
    drain_deadline = std::chrono::steady_clock::now() + config_.limits.drain_timeout;
    check_drained();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  control_.run();

  stopping_ = true;
  catalog_io_.stop();
  if (http_) asio::post(admin_io_, [this] { http_->stop(); });
  admin_io_.stop();
  if (admin_thread_.joinable()) admin_thread_.join();
  for (auto& w : workers_) w->io.stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (watcher_.joinable()) watcher_.join();
  if (catalog_thread_.joinable()) catalog_thread_.join();
  if (audit_) audit_->close();  // seals the segment: verify tells this stop from a cut
  log::info("gateway", "stopped");
  return 0;
}

}  // namespace sluice::app
