#include "session/pg/pg_session.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"
#include "crypto/scram.h"
#include "identity/token.h"
#include "net/blocking.h"
#include "proto/pg/message.h"
#include "session/pg/startup_policy.h"

namespace sluice::session::pg {

using namespace sluice::net;
using namespace boost::asio::experimental::awaitable_operators;
namespace wire = sluice::pg;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kClientBufferInitial = 16 * 1024;
constexpr std::size_t kUpstreamBufferInitial = 64 * 1024;
// Tokens of grants that ended within this span are still checked at login, so their holders
// learn that the token expired or was revoked rather than that it is wrong.
constexpr std::int64_t kRecentGrantMs = 7LL * 24 * 3600 * 1000;

wire::ErrorReport fatal(std::string_view sqlstate, std::string message, std::string hint = {},
                        std::string detail = {}) {
  wire::ErrorReport e;
  e.severity = "FATAL";
  e.sqlstate = sqlstate;
  e.message = std::move(message);
  e.hint = std::move(hint);
  e.detail = std::move(detail);
  return e;
}

awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_nothrow);
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const std::string kNewGrantHint =
    "Request a new grant (sluice grants request), or ask an administrator for a token (sluice "
    "token issue).";

}  // namespace

PgSession::PgSession(SessionServices& svc, tcp::socket socket)
    : svc_(svc),
      client_in_(kClientBufferInitial, svc.config.limits.max_message_bytes + 64),
      upstream_in_(kUpstreamBufferInitial, svc.config.limits.max_message_bytes + 64),
      client_parking_(*this, true, socket.get_executor()),
      server_parking_(*this, false, socket.get_executor()),
      wake_(socket.get_executor()),
      barrier_(socket.get_executor()),
      write_turn_(socket.get_executor()),
      hold_wake_(socket.get_executor()) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  peer_ = ec ? "unknown" : ep.address().to_string();
  info_.client_address =
      ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket.set_option(tcp::no_delay(true), ec);
  client_ =
      std::make_unique<Stream>(std::move(socket), svc.server_tls ? *svc.server_tls : *svc.no_tls);
}

PgSession::~PgSession() = default;

// ---- lifecycle -------------------------------------------------------------------------------

awaitable<void> PgSession::run() {
  auto self = shared_from_this();
  auto handshake = [this]() -> awaitable<bool> {
    Startup s = co_await startup();
    if (s != Startup::proceed) co_return false;
    if (!co_await authenticate()) co_return false;
    co_return co_await connect();
  };
  auto outcome = co_await (handshake() || sleep_for(svc_.config.limits.handshake_timeout));
  bool ready = outcome.index() == 0 && std::get<0>(outcome);
  if (outcome.index() == 1) {
    auto report = fatal("08006",
                        "sluice: the connection did not finish logging in within " +
                            seconds_text(svc_.config.limits.handshake_timeout),
                        "Check the client's network and credentials.");
    co_await send_fatal(report);
  }

  if (ready) {
    log::info("session", info_.session_id, " started: identity=", info_.identity,
              " connection=", info_.connection, " grant=", info_.grant_id,
              " client=", info_.client_address, " tls=", client_->tls() ? "yes" : "no",
              " application=", info_.application);
    svc_.pipeline.session_started(info_);
    metrics::counters().sessions_started.add();
    co_await relay();
    if (end_message_ && !client_broken_ && !relay_->mid_message())
      co_await send_fatal(*end_message_);
    if (upstream_ && !upstream_broken_ && ended_ != EndReason::upstream_closed &&
        ended_ != EndReason::upstream_error) {
      std::string bye;
      wire::append_terminate(bye);
      co_await upstream_->write(as_bytes(bye));
    }
    std::string reason(to_string(ended_.value_or(EndReason::client_closed)));
    svc_.pipeline.session_ended(info_, reason);
    log::info("session", info_.session_id, " ended: ", reason);
  }
  if (upstream_) upstream_->close();
  client_->close();
  if (registered_) {
    svc_.registry.remove(client_key_.pid);
    std::string id = info_.session_id;
    std::string reason(to_string(ended_.value_or(EndReason::client_closed)));
    auto record_end = [this, id, reason] { return svc_.store.end_session(id, now_ms(), reason); };
    auto r = co_await run_blocking(svc_.blocking, record_end);
    if (!r->is_ok()) log::warn("session", id, ": cannot record the session's end: ", r->message());
  }
}

void PgSession::end(EndReason reason, std::optional<wire::ErrorReport> message) {
  if (ended_) return;
  // A session ended by the gateway must not leave its statement running on the server.
  if (relay_ && !relay_->idle() && reason != EndReason::upstream_closed &&
      reason != EndReason::upstream_error)
    request_cancel();
  ended_ = reason;
  end_message_ = std::move(message);
  // The client's pending read returns end-of-file while a write in progress may still finish
  // on a message boundary, so the FATAL that says why can follow it. Everything upstream stops.
  if (client_) {
    error_code ignored;
    client_->socket().shutdown(tcp::socket::shutdown_receive, ignored);
  }
  if (upstream_) upstream_->cancel();
  unpark(client_parking_, Stop::exit);
  unpark(server_parking_, Stop::exit);
  barrier_.cancel();
  hold_wake_.cancel();
  wake_.cancel();
}

void PgSession::request_end(EndReason reason, std::string detail) {
  end(reason, fatal("57P01", std::move(detail), kNewGrantHint));
}

void PgSession::request_cancel() {
  if (!upstream_ || ended_) return;
  asio::co_spawn(client_->socket().get_executor(), send_cancel(upstream_endpoint_, upstream_key_),
                 asio::detached);
}

void PgSession::request_drain() {
  draining_ = true;
  if (relay_ && relay_->idle())
    end(EndReason::shutdown,
        fatal("57P01", "sluice: the gateway is shutting down", "Reconnect to another gateway."));
}

void PgSession::poke_supervisor() {
  wake_.cancel();
}

Clock::time_point PgSession::grant_deadline() const {
  return Clock::now() + std::chrono::milliseconds(info_.grant_expires_at_ms - now_ms());
}

// ---- client I/O helpers ----------------------------------------------------------------------

awaitable<bool> PgSession::write_client(std::span<const Bytes> segments) {
  while (client_writing_) {
    ++write_waiters_;
    write_turn_.expires_at(Clock::time_point::max());
    co_await write_turn_.async_wait(use_nothrow);
    --write_waiters_;
  }
  if (client_broken_) co_return false;
  client_writing_ = true;
  auto [ec, n] = co_await client_->write(segments);
  client_writing_ = false;
  if (write_waiters_ > 0) write_turn_.cancel();
  if (ec) client_broken_ = true;
  co_return !ec;
}

awaitable<bool> PgSession::write_client(std::string_view bytes) {
  Bytes one[1] = {as_bytes(bytes)};
  co_return co_await write_client(std::span<const Bytes>(one));
}

awaitable<void> PgSession::send_fatal(const wire::ErrorReport& e) {
  std::string out;
  wire::append_error(out, e);
  co_await write_client(out);
}

// Reads one typed message during authentication (only PasswordMessage-class messages).
awaitable<std::optional<wire::Frame>> PgSession::read_client_frame() {
  wire::FrameLimits limits{svc_.config.limits.max_message_bytes};
  for (;;) {
    auto d = wire::decode_frontend(client_in_.data(), limits);
    if (d.status == wire::DecodeStatus::complete) {
      if (d.frame.type != wire::fe::kPassword) {
        auto report = fatal("08P01", "sluice: expected an authentication message, got " +
                                         std::string(wire::frontend_rule(d.frame.type)->name));
        co_await send_fatal(report);
        co_return std::nullopt;
      }
      co_return d.frame;
    }
    if (d.status == wire::DecodeStatus::invalid) {
      auto report = fatal("08P01", std::string("sluice: invalid message during "
                                               "authentication: ") +
                                       d.error);
      co_await send_fatal(report);
      co_return std::nullopt;
    }
    std::size_t need = d.header_known ? d.frame.wire_size() : 5;
    if (!client_in_.reserve(need)) co_return std::nullopt;
    auto [ec, n] = co_await client_->read_some(client_in_.free_space());
    if (ec) co_return std::nullopt;
    client_in_.commit(n);
  }
}

// ---- startup ---------------------------------------------------------------------------------

awaitable<PgSession::Startup> PgSession::startup() {
  const std::uint32_t limit = svc_.config.limits.startup_packet_bytes;
  bool ssl_answered = false;
  bool gss_answered = false;
  for (;;) {
    wire::DecodedStartup d;
    for (;;) {
      d = wire::decode_startup(client_in_.data(), limit);
      if (d.status != wire::DecodeStatus::need_more) break;
      client_in_.reserve(limit);
      auto [ec, n] = co_await client_->read_some(client_in_.free_space());
      if (ec) co_return Startup::failed;  // went away before saying anything useful
      client_in_.commit(n);
    }
    if (d.status == wire::DecodeStatus::invalid) {
      auto report = fatal("08P01", std::string("sluice: invalid startup packet: ") + d.error,
                          "Connect with a PostgreSQL client or driver (protocol 3.0).");
      co_await send_fatal(report);
      co_return Startup::failed;
    }
    const std::uint32_t code = d.frame.code;
    if (code == wire::kSslRequestCode || code == wire::kGssEncRequestCode) {
      bool ssl = code == wire::kSslRequestCode;
      if ((ssl && (ssl_answered || client_->tls())) || (!ssl && gss_answered)) {
        auto report = fatal("08P01", "sluice: duplicate encryption request");
        co_await send_fatal(report);
        co_return Startup::failed;
      }
      client_in_.consume(d.frame.length);
      if (!client_in_.empty()) {
        // Bytes sent before the answer could have been injected by a man in the middle;
        // PostgreSQL refuses them too (CVE-2021-23214).
        auto report =
            fatal("08P01", "sluice: received unencrypted data after an encryption request",
                  "Wait for the server's answer before sending more.");
        co_await send_fatal(report);
        co_return Startup::failed;
      }
      if (ssl && svc_.server_tls) {
        static const char kYes = 'S';
        co_await client_->write(as_bytes({&kYes, 1}));
        error_code ec = co_await client_->handshake(true);
        if (ec) {
          log::info("session", "TLS handshake with ", peer_, " failed: ", ec.message());
          co_return Startup::failed;
        }
      } else {
        static const char kNo = 'N';
        co_await client_->write(as_bytes({&kNo, 1}));
      }
      (ssl ? ssl_answered : gss_answered) = true;
      continue;
    }
    if (code == wire::kCancelRequestCode) {
      auto key = wire::parse_cancel_request(d.frame.body);
      if (key && !svc_.registry.cancel(*key)) {
        int node = SessionRegistry::node_of(key->pid);
        if (node != svc_.registry.node_id())
          log::info("session", "cancel request for a session of node ", node, " arrived at node ",
                    svc_.registry.node_id(), "; ignored");
      }
      co_return Startup::cancel_handled;  // no answer, as PostgreSQL does
    }
    if ((code >> 16) != 3) {
      auto report = fatal(
          "0A000", "sluice: unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                       std::to_string(code & 0xFFFF) + ": the gateway speaks protocol 3.0");
      co_await send_fatal(report);
      co_return Startup::failed;
    }
    auto params = wire::parse_startup_params(code, d.frame.body);
    client_in_.consume(d.frame.length);
    if (!params) {
      auto report = fatal("08P01", "sluice: " + params.status().message());
      co_await send_fatal(report);
      co_return Startup::failed;
    }
    auto req = check_startup(*params);
    if (!req) {
      bool refused = req.status().code() == Code::permission_denied;
      auto report = fatal(refused ? "08004" : "08P01", "sluice: " + req.status().message());
      co_await send_fatal(report);
      co_return Startup::failed;
    }
    if (svc_.config.tls.require && !client_->tls()) {
      auto report = fatal("28000", "sluice: this gateway accepts only TLS connections",
                          "Connect with sslmode=require (or verify-full).");
      co_await send_fatal(report);
      co_return Startup::failed;
    }
    if (params->minor_version > 0 || !req->unrecognized_options.empty()) {
      std::vector<std::string_view> opts(req->unrecognized_options.begin(),
                                         req->unrecognized_options.end());
      std::string out;
      wire::append_negotiate_protocol_version(out, 0, opts);
      co_await write_client(out);
    }
    info_.identity = req->user;
    info_.connection = req->database;
    info_.application = req->application;
    info_.tls = client_->tls();
    client_settings_ = std::move(req->settings);
    co_return Startup::proceed;
  }
}

// ---- authentication --------------------------------------------------------------------------

awaitable<bool> PgSession::authenticate() {
  const std::int64_t started = now_ms();
  if (!svc_.throttle.allow(peer_, started)) {
    int retry = svc_.throttle.retry_after_seconds(peer_, started);
    auto report = fatal("08004", "sluice: too many failed logins from " + peer_ +
                                     "; try again in " + std::to_string(retry) + "s");
    co_await send_fatal(report);
    co_return false;
  }
  const std::string identity = info_.identity;
  auto lookup = [this, identity, started] {
    return svc_.store.tokens_for_identity(identity, started - kRecentGrantMs);
  };
  auto tokens = co_await run_blocking(svc_.blocking, lookup);
  if (!tokens->is_ok()) {
    log::error("session", "state store: ", tokens->status().message());
    auto report = fatal("08006",
                        "sluice: the gateway cannot check tokens right now (state "
                        "store unavailable)",
                        "Retry shortly; the operator has been told in the gateway's log.");
    co_await send_fatal(report);
    co_return false;
  }
  const std::vector<store::LiveToken>& candidates = **tokens;

  const bool cleartext = client_->tls() && svc_.config.tls.allow_cleartext_password;
  std::optional<std::size_t> match;
  std::string server_final;
  std::string out;
  if (cleartext) {
    wire::append_auth(out, wire::AuthCode::cleartext_password);
    if (!co_await write_client(out)) co_return false;
    auto f = co_await read_client_frame();
    if (!f) co_return false;
    auto password = wire::parse_password(f->body);
    std::string token = password ? std::string(*password) : std::string();
    client_in_.consume(f->wire_size());
    if (identity::check_token_format(token).is_ok()) {
      std::string hash = identity::token_lookup_hash(token);
      for (std::size_t i = 0; i < candidates.size(); ++i)
        if (crypto::constant_time_equal(hash, candidates[i].token.lookup_hash) && !match) match = i;
    }
  } else {
    static const std::vector<std::string_view> kMechanisms{"SCRAM-SHA-256"};
    wire::append_auth_sasl(out, kMechanisms);
    if (!co_await write_client(out)) co_return false;
    auto f1 = co_await read_client_frame();
    if (!f1) co_return false;
    auto initial = wire::parse_sasl_initial(f1->body);
    if (!initial || initial->mechanism != "SCRAM-SHA-256" || !initial->data) {
      auto report = fatal("28000", "sluice: expected a SCRAM-SHA-256 SASL exchange",
                          "Use a client that supports SCRAM-SHA-256 (libpq 10 or later).");
      co_await send_fatal(report);
      co_return false;
    }
    crypto::ScramServer scram;
    auto first = scram.on_client_first(*initial->data,
                                       identity::scram_salt_for(svc_.install_secret, identity),
                                       crypto::kScramDefaultIterations);
    client_in_.consume(f1->wire_size());
    if (!first) {
      auto report = fatal("08P01", "sluice: " + first.status().message());
      co_await send_fatal(report);
      co_return false;
    }
    out.clear();
    wire::append_auth(out, wire::AuthCode::sasl_continue, *first);
    if (!co_await write_client(out)) co_return false;
    auto f2 = co_await read_client_frame();
    if (!f2) co_return false;
    std::string client_final(as_chars(f2->body));
    client_in_.consume(f2->wire_size());

    std::vector<crypto::ScramVerifier> verifiers;
    verifiers.reserve(candidates.size());
    for (const auto& c : candidates) {
      crypto::ScramVerifier v;
      v.salt = c.token.scram_salt;
      v.iterations = c.token.scram_iterations;
      if (c.token.scram_stored_key.size() != 32 || c.token.scram_server_key.size() != 32) continue;
      std::copy(c.token.scram_stored_key.begin(), c.token.scram_stored_key.end(),
                v.stored_key.begin());
      std::copy(c.token.scram_server_key.begin(), c.token.scram_server_key.end(),
                v.server_key.begin());
      verifiers.push_back(v);
    }
    std::vector<const crypto::ScramVerifier*> ptrs;
    for (const auto& v : verifiers) ptrs.push_back(&v);
    auto r = scram.on_client_final(client_final, ptrs);
    if (r) {
      match = *r;
      server_final = scram.server_final();
    } else if (r.status().code() == Code::protocol_violation) {
      auto report = fatal("08P01", "sluice: " + r.status().message());
      co_await send_fatal(report);
      co_return false;
    }
  }

  if (!match) {
    svc_.throttle.record_failure(peer_, now_ms());
    log::info("session", "failed login for identity ", identity, " from ", peer_);
    auto report =
        fatal("28P01", "sluice: password authentication failed for user \"" + identity + "\"",
              kNewGrantHint,
              "The password must be a live Sluice token (slc_...) issued to this "
              "identity.");
    co_await send_fatal(report);
    co_return false;
  }

  const store::LiveToken& t = candidates[*match];
  const store::GrantRecord& g = t.grant;
  const std::int64_t now = now_ms();
  if (g.status == store::GrantStatus::revoked) {
    auto report =
        fatal("28000",
              "sluice: this token's grant " + g.id + " was revoked at " + format_utc(g.revoked_at) +
                  (g.revoked_by.empty() ? "" : " by " + g.revoked_by),
              kNewGrantHint);
    co_await send_fatal(report);
    co_return false;
  }
  if (now >= g.expires_at) {
    auto report = fatal("28000",
                        "sluice: this token's access window (grant " + g.id + ") ended at " +
                            format_utc(g.expires_at),
                        kNewGrantHint);
    co_await send_fatal(report);
    co_return false;
  }
  if (g.status != store::GrantStatus::approved || now < g.starts_at) {
    auto report =
        fatal("28000", "sluice: this token's grant " + g.id + " is not active", kNewGrantHint);
    co_await send_fatal(report);
    co_return false;
  }

  out.clear();
  if (!cleartext) wire::append_auth(out, wire::AuthCode::sasl_final, server_final);
  wire::append_auth(out, wire::AuthCode::ok);
  if (!co_await write_client(out)) co_return false;

  const std::string wanted = info_.connection;
  connection_ = svc_.config.find_connection(wanted);
  if (!connection_) {
    auto report =
        fatal("3D000",
              "sluice: there is no connection named \"" + wanted + "\"; this token's grant " +
                  g.id + " is for connection \"" + g.connection + "\"",
              "Use the connection name as the database name: "
              "postgresql://" +
                  identity + "@HOST:PORT/" + g.connection);
    co_await send_fatal(report);
    co_return false;
  }
  if (g.connection != wanted) {
    auto report = fatal(
        "28000",
        "sluice: this token is for connection \"" + g.connection + "\", not \"" + wanted + "\"",
        "Connect to postgresql://" + identity + "@HOST:PORT/" + g.connection +
            ", or request a grant for \"" + wanted + "\".");
    co_await send_fatal(report);
    co_return false;
  }
  if (connection_->type != config::ConnectionType::postgres) {
    auto report =
        fatal("08004", "sluice: connection \"" + wanted + "\" is not a PostgreSQL database");
    co_await send_fatal(report);
    co_return false;
  }

  info_.grant_id = g.id;
  info_.grant_expires_at_ms = g.expires_at;
  info_.role = g.role;
  info_.scope.access =
      g.access == "write" ? hook::GrantScope::Access::write : hook::GrantScope::Access::read;
  info_.scope.tables = g.tables;
  info_.scope.columns = g.columns;
  info_.groups = g.groups;
  max_sessions_ = g.max_sessions;
  info_.session_id = store::new_id("s_");
  co_return true;
}

// ---- upstream --------------------------------------------------------------------------------

awaitable<bool> PgSession::connect() {
  const auto& cfg = connection_->postgres;
  auto settings = client_settings_;
  settings.emplace_back("application_name",
                        upstream_application_name(info_.identity, info_.application));
  // Names resolve on the server exactly as the analyzer resolved them.
  std::string path;
  for (const auto& schema : cfg.search_path) path += (path.empty() ? "\"" : ", \"") + schema + "\"";
  settings.emplace_back("search_path", path);
  if (svc_.config.limits.statement_timeout.count() > 0)
    settings.emplace_back("statement_timeout",
                          std::to_string(svc_.config.limits.statement_timeout.count()));
  // Defence in depth for read grants: the server refuses writes too.
  if (info_.scope.access == hook::GrantScope::Access::read)
    settings.emplace_back("default_transaction_read_only", "on");
  auto& tls = *svc_.upstream_tls.at(connection_->name);
  const auto timeout = svc_.config.limits.upstream_connect_timeout;
  auto attempt = co_await (connect_upstream(cfg, tls, settings) || sleep_for(timeout));
  std::optional<Result<UpstreamConnection>> result;
  if (attempt.index() == 0) result.emplace(std::move(std::get<0>(attempt)));
  if (!result || !result->is_ok()) {
    std::string why =
        result ? result->status().message() : "no answer within " + seconds_text(timeout);
    log::warn("session", "connection ", connection_->name, ": ", why);
    auto report = fatal("08001",
                        "sluice: cannot connect to the database of connection \"" +
                            connection_->name + "\": " + why,
                        "The database may be down or unreachable; the gateway keeps "
                        "running, retry later.");
    co_await send_fatal(report);
    co_return false;
  }
  UpstreamConnection& up = result->value();
  upstream_ = std::move(up.stream);
  upstream_key_ = up.key;
  upstream_endpoint_ = up.endpoint;
  upstream_params_ = std::move(up.parameters);
  if (!up.pending.empty()) upstream_in_.append({up.pending.data(), up.pending.size()});

  auto reg = svc_.registry.add(shared_from_this(), client_->socket().get_executor(),
                               info_.session_id, info_.grant_id);
  client_key_ = reg.key;
  registered_ = true;

  store::SessionRecord rec;
  rec.id = info_.session_id;
  rec.node = svc_.node_name;
  rec.grant_id = info_.grant_id;
  rec.identity = info_.identity;
  rec.connection = info_.connection;
  rec.protocol = "postgres";
  rec.client_address = info_.client_address;
  rec.application = info_.application;
  rec.tls = info_.tls;
  rec.started_at = now_ms();
  auto insert = [this, rec] { return svc_.store.insert_session(rec, max_sessions_); };
  auto stored = co_await run_blocking(svc_.blocking, insert);
  if (!stored->is_ok() && stored->code() == Code::resource_exhausted) {
    auto report = fatal("53300", "sluice: " + stored->message(),
                        "Close another session of this grant, or request a new grant.");
    co_await send_fatal(report);
    co_return false;
  }
  if (!stored->is_ok()) {
    log::error("session", "cannot record session ", rec.id, ": ", stored->message());
    auto report = fatal("08006",
                        "sluice: the gateway cannot record this session (state "
                        "store unavailable), so it does not open it");
    co_await send_fatal(report);
    co_return false;
  }

  std::string out;
  for (const auto& [k, v] : upstream_params_) wire::append_parameter_status(out, k, v);
  wire::append_backend_key_data(out, client_key_);
  wire::append_ready_for_query(out, 'I');
  if (!co_await write_client(out)) co_return false;
  if (svc_.draining.load()) draining_ = true;
  co_return true;
}

// ---- relay -----------------------------------------------------------------------------------

awaitable<void> PgSession::relay() {
  RelayLimits limits;
  limits.frames.max_message_bytes = svc_.config.limits.max_message_bytes;
  relay_ = std::make_unique<PgRelay>(info_, svc_.pipeline, limits);
  last_client_activity_ = Clock::now();
  if (draining_) request_drain();
  // Three coroutines on this session's thread; this one waits for all of them. They are
  // spawned rather than joined with awaitable operators, whose per-branch cancellation slots
  // cost an allocation on every I/O operation.
  auto ex = client_->socket().get_executor();
  int running = 3;
  asio::steady_timer all_done(ex);
  auto finished = [this, &running, &all_done](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("session", info_.session_id, ": internal error: ", ex.what());
      }
      end(EndReason::client_error,
          fatal("XX000", "sluice: internal error; the session was closed"));
    }
    if (--running == 0) all_done.cancel();
  };
  // On plain TCP the loops park while they wait to read: each socket gets a ReadyWatch (see
  // Parking). TLS sessions read through Asio, which drives the TLS engine. A loop whose watch
  // did not start reads through Asio too (read_more).
  if (!client_->tls() && !upstream_->tls()) {
    client_parking_.watch.start(client_->socket(), &client_parking_);
    server_parking_.watch.start(upstream_->socket(), &server_parking_);
  }
  io_loops_running_ = 2;
  asio::co_spawn(ex, client_to_server(), finished);
  asio::co_spawn(ex, server_to_client(), finished);
  asio::co_spawn(ex, supervise(), finished);
  while (running > 0) {
    all_done.expires_at(Clock::time_point::max());
    co_await all_done.async_wait(use_nothrow);
  }
  stop_watching();
}

awaitable<bool> PgSession::audit_durable(std::uint64_t first, std::uint64_t last) {
  auto ex = client_->socket().get_executor();
  auto initiate = [this, first, last, ex](auto handler) {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    svc_.audit->on_durable(first, last,
                           [h, ex](bool ok) { asio::post(ex, [h, ok]() mutable { (*h)(ok); }); });
  };
  auto op = asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(std::move(initiate),
                                                                            asio::use_awaitable);
  bool ok = co_await std::move(op);
  co_return ok;
}

PgSession::Stop PgSession::client_pass(ClientPass& p) {
  switch (p.at) {
    case At::process: {
      if (ended_) return Stop::exit;
      const bool was_idle = relay_->idle();
      p.step = relay_->on_client_bytes(client_in_.data());
      if (was_idle && !relay_->idle()) busy_since_ = Clock::now();
      // Nothing runs unrecorded: with audit durability fsync the statements in the upstream
      // output wait for their records (group commit makes concurrent sessions share one fsync).
      p.barrier = relay_->take_audit_barrier();
      if (p.barrier.last && svc_.audit) return Stop::audit;
      [[fallthrough]];
    }
    case At::write: {
      OutputBuffer& out = relay_->upstream_output();
      if (!out.empty()) {
        error_code ec;
        const auto& segments = out.segments();
        std::size_t done = upstream_->write_now(segments, ec);
        if (!ec && done < out.size()) {
          p.written = done;
          return Stop::write;
        }
        out.clear();
        if (ec) {
          upstream_broken_ = true;
          end(EndReason::upstream_error,
              fatal("08006", "sluice: lost the connection to the database: " + ec.message()));
          return Stop::exit;
        }
      }
      [[fallthrough]];
    }
    case At::after_write:
      break;
  }
  client_in_.consume(p.step.consumed);
  if (ended_) return Stop::exit;
  switch (p.step.next) {
    case PgRelay::ClientNext::hold:
      return Stop::hold;
    case PgRelay::ClientNext::barrier:
      return Stop::barrier;
    case PgRelay::ClientNext::terminate:
      end(EndReason::client_closed);
      return Stop::exit;
    case PgRelay::ClientNext::fatal:
      end(EndReason::client_error, relay_->fatal_report());
      return Stop::exit;
    case PgRelay::ClientNext::need_more:
      break;
  }
  return wait_for_bytes(client_in_, p.step.need, EndReason::client_error, "54000",
                        "sluice: message too large");
}

awaitable<void> PgSession::client_to_server() {
  ClientPass& p = client_pass_;
  p = ClientPass{};
  Stop stop = client_pass(p);
  // A pass run from a ReadyWatch stops before the coroutine resumes, so the session may have
  // ended in between: each case below decides what of its work still has to be finished.
  while (stop != Stop::exit) {
    switch (stop) {
      case Stop::audit: {
        if (ended_) {  // nothing more goes upstream
          stop = Stop::exit;
          break;
        }
        bool recorded = co_await audit_durable(p.barrier.first, p.barrier.last);
        // The session may have ended while it waited (a revoke, the window, a drain): then
        // nothing more goes upstream.
        if (ended_) {
          stop = Stop::exit;
          break;
        }
        if (!recorded) {
          relay_->upstream_output().clear();
          end(EndReason::client_error,
              fatal("58030",
                    "sluice: the audit log could not record this statement, so it was not run; "
                    "the session was closed",
                    "The gateway refuses statements until its audit log can be written; tell "
                    "its operator (see /healthz)."));
          stop = Stop::exit;
          break;
        }
        p.at = At::write;
        stop = client_pass(p);
        break;
      }
      case Stop::write: {
        OutputBuffer& out = relay_->upstream_output();
        if (ended_) {
          // end() stops everything upstream; the server holds part of a message, so the
          // session must not write it a Terminate after it.
          out.clear();
          upstream_broken_ = true;
          stop = Stop::exit;
          break;
        }
        auto [ec, n] = co_await upstream_->write(out.segments(), p.written);
        out.clear();
        if (ec) {
          upstream_broken_ = true;
          end(EndReason::upstream_error,
              fatal("08006", "sluice: lost the connection to the database: " + ec.message()));
          stop = Stop::exit;
          break;
        }
        p.at = At::after_write;
        stop = client_pass(p);
        break;
      }
      case Stop::hold: {
        auto hold = std::move(p.step.hold);  // handled here; see after the loop
        if (ended_) {
          if (hold) hold->cancel();  // as wait_hold does when the session ends
          stop = Stop::exit;
          break;
        }
        auto d = co_await wait_hold(hold);
        if (d) relay_->resolve_hold(std::move(*d));
        p.at = At::process;
        stop = client_pass(p);
        break;
      }
      case Stop::barrier:
        while (relay_->barrier_active() && !ended_) {
          barrier_.expires_at(Clock::time_point::max());
          co_await barrier_.async_wait(use_nothrow);
        }
        p.at = At::process;
        stop = client_pass(p);
        break;
      case Stop::read: {
        if (ended_) {
          stop = Stop::exit;
          break;
        }
        stop = co_await read_more(client_parking_);
        if (stop != Stop::read) break;
        const error_code& ec = client_parking_.read_error;
        end(ec == asio::error::eof ? EndReason::client_closed : EndReason::client_error);
        stop = Stop::exit;
        break;
      }
      case Stop::write_turn:
      case Stop::exit:
        stop = Stop::exit;
        break;
    }
  }
  // A held statement behind earlier output (the pass stopped for the audit log or a write
  // first) whose session ended before the loop reached it: withdraw it.
  if (p.step.hold) {
    p.step.hold->cancel();
    p.step.hold.reset();
  }
  if (--io_loops_running_ == 0) wake_.cancel();
}

void PgSession::finish_client_write(const error_code& ec) {
  client_writing_ = false;
  if (write_waiters_ > 0) write_turn_.cancel();
  if (ec) client_broken_ = true;
}

PgSession::Stop PgSession::server_pass(ServerPass& p) {
  if (p.at == At::process) {
    if (ended_) return Stop::exit;
    p.step = relay_->on_server_bytes(upstream_in_.data());
    OutputBuffer& out = relay_->client_output();
    if (!out.empty()) {
      // Another writer (a notice, a fatal error) has the client stream: wait for its turn.
      if (client_writing_ || client_broken_) return Stop::write_turn;
      // The common case, without write_client's coroutine frame.
      client_writing_ = true;
      error_code ec;
      const auto& segments = out.segments();
      std::size_t done = client_->write_now(segments, ec);
      if (!ec && done < out.size()) {
        p.written = done;
        return Stop::write;
      }
      finish_client_write(ec);
      out.clear();
      if (ec) {
        end(EndReason::client_error);
        return Stop::exit;
      }
    }
  }
  upstream_in_.consume(p.step.consumed);
  p.server_closing |= p.step.server_closing;
  if (p.step.cancel_upstream) request_cancel();
  if (p.step.barrier_released) barrier_.cancel();
  if (p.step.fatal) {
    end(EndReason::upstream_error, relay_->fatal_report());
    return Stop::exit;
  }
  // The supervisor arms the idle-in-transaction deadline only when it sees the session idle
  // in a transaction; tell it whenever that becomes true and it has not armed it.
  char tx = relay_->transaction_status();
  if (tx != last_tx_status_ || (!idle_armed_ && (tx == 'T' || tx == 'E') && relay_->idle())) {
    last_tx_status_ = tx;
    poke_supervisor();
  }
  return wait_for_bytes(upstream_in_, p.step.need, EndReason::upstream_error, "08P01",
                        "sluice: server message too large");
}

// How both passes end when they need more bytes: a draining session that has gone idle ends;
// otherwise the buffer makes room for the next message (`need` bytes in all), or the session
// ends with `sqlstate` and `message` when the message is larger than the limit.
PgSession::Stop PgSession::wait_for_bytes(InputBuffer& in, std::size_t need, EndReason too_large,
                                          const char* sqlstate, const char* message) {
  if (draining_ && relay_->idle()) {
    request_drain();
    return Stop::exit;
  }
  if (ended_) return Stop::exit;
  if (!in.reserve(std::max(need, in.size() + 1))) {
    end(too_large, fatal(sqlstate, message));
    return Stop::exit;
  }
  return Stop::read;
}

awaitable<void> PgSession::server_to_client() {
  ServerPass& p = server_pass_;
  p = ServerPass{};
  Stop stop = server_pass(p);
  // As in client_to_server, the session may have ended since the pass stopped. Output for
  // the client is still finished (end() lets a write in progress end on a message boundary,
  // so the FATAL that says why can follow it).
  while (stop != Stop::exit) {
    switch (stop) {
      case Stop::write: {
        OutputBuffer& out = relay_->client_output();
        auto [ec, n] = co_await client_->write(out.segments(), p.written);
        finish_client_write(ec);
        out.clear();
        if (ec) {
          end(EndReason::client_error);
          stop = Stop::exit;
          break;
        }
        p.at = At::after_write;
        stop = server_pass(p);
        break;
      }
      case Stop::write_turn: {
        OutputBuffer& out = relay_->client_output();
        bool ok = co_await write_client(out.segments());
        out.clear();
        if (!ok) {
          end(EndReason::client_error);
          stop = Stop::exit;
          break;
        }
        p.at = At::after_write;
        stop = server_pass(p);
        break;
      }
      case Stop::read: {
        if (ended_) {
          stop = Stop::exit;
          break;
        }
        stop = co_await read_more(server_parking_);
        if (stop != Stop::read) break;
        if (!ended_) {
          upstream_broken_ = true;
          if (p.server_closing) {
            end(EndReason::upstream_closed);  // the server's own FATAL was passed on
          } else {
            end(EndReason::upstream_closed,
                fatal("08006", "sluice: the database closed the connection",
                      "The database may have restarted; reconnect."));
          }
        }
        stop = Stop::exit;
        break;
      }
      case Stop::audit:
      case Stop::hold:
      case Stop::barrier:
      case Stop::exit:
        stop = Stop::exit;
        break;
    }
  }
  if (--io_loops_running_ == 0) wake_.cancel();
}

// ---- parking: the passes run from the sockets' ReadyWatch ---------------------------------------

void PgSession::Parking::on_ready(bool hup) {
  hangup |= hup;
  if (continuing) return;  // the posted continuation reads; one chain per socket
  session.on_parked_ready(*this);
}

void PgSession::on_parked_ready(Parking& k) {
  // An arrival while the loop is busy in its coroutine is not lost: park() reads before it
  // relies on the next one.
  if (!k.parked) return;
  net::Stream& stream = k.client ? *client_ : *upstream_;
  InputBuffer& in = k.client ? client_in_ : upstream_in_;
  const int fd = stream.socket().native_handle();
  for (int reads = 0;; ++reads) {
    if (reads == kReadsPerTurn) {
      // A peer faster than the relay (a large result from a local server) keeps every read
      // full: let the worker's other sessions and timers run, and go on after them.
      k.continuing = true;
      asio::post(stream.socket().get_executor(), [self = shared_from_this(), kp = &k] {
        kp->continuing = false;
        self->on_parked_ready(*kp);
      });
      return;
    }
    auto room = in.free_space();  // the pass that stopped at Stop::read reserved room
    ssize_t n = ::recv(fd, room.data(), room.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // empty: the next arrival tells
      unpark(k, Stop::read, error_code(errno, asio::error::get_system_category()));
      return;
    }
    if (n == 0) {
      unpark(k, Stop::read, asio::error::eof);
      return;
    }
    Stop stop = Stop::exit;
    try {
      stop = bytes_arrived(k, static_cast<std::size_t>(n));
    } catch (const std::exception& e) {
      // As relay() does for its coroutines: this session ends, the worker goes on.
      log::error("session", info_.session_id, ": internal error: ", e.what());
      end(EndReason::client_error,
          fatal("XX000", "sluice: internal error; the session was closed"));
    }
    if (stop != Stop::read) {
      unpark(k, stop);
      return;
    }
    // A short read emptied the socket, so the next arrival is a new edge; after a full one
    // there may be more. After a hang-up there is no next edge: read on to the end.
    if (static_cast<std::size_t>(n) < room.size() && !k.hangup) return;
  }
}

PgSession::Stop PgSession::bytes_arrived(Parking& k, std::size_t n) {
  if (k.client) {
    client_in_.commit(n);
    last_client_activity_ = Clock::now();
    client_pass_.at = At::process;
    return client_pass(client_pass_);
  }
  upstream_in_.commit(n);
  server_pass_.at = At::process;
  return server_pass(server_pass_);
}

awaitable<PgSession::Stop> PgSession::read_more(Parking& k) {
  if (k.watch.running()) co_return co_await park(k);  // the passes run from the watch
  // TLS: read through Asio, which drives the TLS engine.
  k.read_error = {};
  net::Stream& stream = k.client ? *client_ : *upstream_;
  InputBuffer& in = k.client ? client_in_ : upstream_in_;
  for (;;) {
    auto [ec, n] = co_await stream.read_some(in.free_space());
    if (ec) {
      k.read_error = ec;
      co_return Stop::read;
    }
    Stop stop = bytes_arrived(k, n);
    if (stop != Stop::read) co_return stop;
  }
}

void PgSession::unpark(Parking& k, Stop why, error_code read_error) {
  if (!k.parked) return;
  k.parked = false;
  k.stop = why;
  k.read_error = read_error;
  k.wake.cancel();
}

awaitable<PgSession::Stop> PgSession::park(Parking& k) {
  if (ended_) co_return Stop::exit;
  k.parked = true;
  k.stop = Stop::read;
  k.read_error = {};
  // Bytes may have arrived while the loop was away, their edge seen by nobody: read now.
  on_parked_ready(k);
  while (k.parked) {
    k.wake.expires_at(Clock::time_point::max());
    co_await k.wake.async_wait(use_nothrow);
  }
  co_return k.stop;
}

void PgSession::stop_watching() {
  unpark(client_parking_, Stop::exit);
  unpark(server_parking_, Stop::exit);
  // Before the sockets close, as ReadyWatch asks.
  client_parking_.watch.stop();
  server_parking_.watch.stop();
}

awaitable<void> PgSession::supervise() {
  const auto idle_limit = svc_.config.limits.idle_in_transaction_timeout;
  const auto statement_limit = svc_.config.limits.statement_timeout;
  const auto expiry = grant_deadline();
  Clock::time_point cancelled_for{};
  auto idle_in_tx = [&] {
    char tx = relay_->transaction_status();
    return relay_->idle() && (tx == 'T' || tx == 'E');
  };
  // When the gateway itself cancels the running statement (the backstop, below).
  auto backstop_line = [&] { return busy_since_ + 2 * statement_limit + std::chrono::seconds(1); };
  while (!ended_) {
    auto deadline = expiry;
    idle_armed_ = idle_in_tx();
    if (idle_armed_) deadline = std::min(deadline, last_client_activity_ + idle_limit);
    // The server enforces statement_timeout; this backstop cancels a session that stays busy
    // far longer (the server-side limit was lifted, or the server ignores cancels). While
    // the session is idle it looks once per statement_timeout; while busy, when the running
    // statement would cross the line. (It looked every second: each wake-up of an idle
    // session costs its worker a wake-up, and with busy_poll_us a polling window.)
    if (statement_limit.count() > 0) {
      auto now = Clock::now();
      auto look_at = relay_->idle() ? now + statement_limit
                                    : std::max(now + std::chrono::seconds(1), backstop_line());
      deadline = std::min(deadline, look_at);
    }
    wake_.expires_at(deadline);
    co_await wake_.async_wait(use_nothrow);
    if (ended_) break;
    auto now = Clock::now();
    if (now >= expiry) {
      end(EndReason::grant_expired,
          fatal("57P01",
                "sluice: the access window of grant " + info_.grant_id + " ended at " +
                    format_utc(info_.grant_expires_at_ms) + "; the session was closed",
                kNewGrantHint));
    } else if (statement_limit.count() > 0 && !relay_->idle() && busy_since_ != cancelled_for &&
               now >= backstop_line()) {
      log::warn("session", info_.session_id,
                ": busy for more than twice statement_timeout; cancelling");
      cancelled_for = busy_since_;
      request_cancel();
    } else if (idle_in_tx() && now >= last_client_activity_ + idle_limit) {
      end(EndReason::idle_in_transaction,
          fatal("25P03",
                "sluice: the session was idle in a transaction for more than " +
                    seconds_text(idle_limit) + "; the transaction was rolled back",
                "Commit or roll back promptly (limits.idle_in_transaction_timeout)."));
    }
  }
  // Let the loops stop on a message boundary; then cut whatever still blocks them (a client
  // that does not read, a server that does not answer).
  if (io_loops_running_ > 0) {
    wake_.expires_after(std::chrono::seconds(2));
    co_await wake_.async_wait(use_nothrow);
    if (io_loops_running_ > 0) {
      client_broken_ = true;
      upstream_broken_ = true;
      stop_watching();
      client_->close();
      upstream_->close();
    }
  }
}

awaitable<std::optional<hook::Decision>> PgSession::wait_hold(std::shared_ptr<hook::Hold> hold) {
  if (!hold) co_return std::nullopt;
  std::string out;
  wire::ErrorReport notice;
  notice.severity = "NOTICE";
  notice.sqlstate = "00000";
  notice.message = hold->notice();
  wire::append_error(out, notice, wire::be::kNoticeResponse);
  co_await write_client(out);

  struct Slot {
    std::optional<hook::Decision> decision;
  };
  auto slot = std::make_shared<Slot>();
  auto ex = client_->socket().get_executor();
  std::weak_ptr<PgSession> weak = weak_from_this();
  active_hold_ = hold;
  hold->wait([slot, ex, weak](hook::Decision d) {
    asio::post(ex, [slot, weak, d = std::move(d)]() mutable {
      slot->decision = std::move(d);
      if (auto self = weak.lock()) self->hold_wake_.cancel();
    });
  });
  while (!slot->decision && !ended_) {
    hold_wake_.expires_at(Clock::time_point::max());
    co_await hold_wake_.async_wait(use_nothrow);
  }
  active_hold_.reset();
  if (!slot->decision) {
    hold->cancel();
    co_return std::nullopt;
  }
  co_return std::move(slot->decision);
}

awaitable<void> refuse_connection(tcp::socket socket, wire::ErrorReport e) {
  std::string out;
  wire::append_error(out, e);
  co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace sluice::session::pg
