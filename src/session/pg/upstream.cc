#include "session/pg/upstream.h"

#include <mutex>
#include <set>

#include "core/log.h"
#include "crypto/primitives.h"
#include "crypto/scram.h"
#include "net/tls.h"
#include "proto/pg/backend.h"
#include "session/pg/frame_reader.h"

namespace sluice::session::pg {

using namespace sluice::net;
namespace wire = sluice::pg;

std::vector<std::pair<std::string, std::string>> pinned_settings() {
  // The gateway's SQL parser assumes exactly these (SECURITY.md §2). PostgreSQL 15 does not
  // report backslash_quote or search_path in ParameterStatus, so they are set here and the
  // analyzer refuses statements that could change them.
  return {
      {"client_encoding", "UTF8"},
      {"standard_conforming_strings", "on"},
      {"backslash_quote", "safe_encoding"},
  };
}

namespace {

Status fail(Code code, const config::PostgresUpstream& cfg, const std::string& what) {
  return error(code, "upstream " + cfg.host + ":" + std::to_string(cfg.port) + ": " + what);
}

void warn_if_superuser(const config::PostgresUpstream& cfg,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  static std::mutex mu;
  static std::set<std::string> warned;
  for (const auto& [k, v] : params) {
    if (k != "is_superuser" || v != "on") continue;
    std::string key = cfg.user + "@" + cfg.host + ":" + std::to_string(cfg.port);
    std::lock_guard lock(mu);
    if (warned.insert(key).second)
      log::warn("upstream", "the gateway's upstream role ", cfg.user, " on ", cfg.host, ":",
                cfg.port,
                " is a SUPERUSER: it can read server files and run programs. Give the gateway a "
                "least-privileged role (SECURITY.md §7)");
  }
}

}  // namespace

awaitable<Result<UpstreamConnection>> connect_upstream(
    const config::PostgresUpstream& cfg, ssl::context& tls,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] =
      co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port), use_nothrow);
  if (rec) co_return fail(Code::unavailable, cfg, "cannot resolve host: " + rec.message());

  tcp::socket socket(ex);
  error_code last = asio::error::host_not_found;
  tcp::endpoint endpoint;
  for (const auto& r : results) {
    error_code ignored;
    socket.close(ignored);
    auto [ec] = co_await socket.async_connect(r.endpoint(), use_nothrow);
    if (!ec) {
      endpoint = r.endpoint();
      last = {};
      break;
    }
    last = ec;
  }
  if (last) co_return fail(Code::unavailable, cfg, last.message());
  socket.set_option(tcp::no_delay(true));

  UpstreamConnection conn;
  conn.endpoint = endpoint;
  conn.stream = std::make_unique<Stream>(std::move(socket), tls);
  Stream& s = *conn.stream;

  bool verified_tls = false;
  if (cfg.tls != config::UpstreamTls::disable) {
    std::string req;
    wire::append_ssl_request(req);
    auto [wec, wn] = co_await s.write(as_bytes(req));
    if (wec) co_return fail(Code::unavailable, cfg, "sending SSLRequest: " + wec.message());
    std::uint8_t answer = 0;
    auto [rec2, rn] = co_await s.read_some({&answer, 1});
    if (rec2)
      co_return fail(Code::unavailable, cfg, "reading the SSLRequest answer: " + rec2.message());
    if (answer == 'S') {
      Status st = prepare_client_tls(s.tls_stream(), cfg.tls,
                                     cfg.server_name.empty() ? cfg.host : cfg.server_name);
      if (!st.is_ok()) co_return st;
      error_code hec = co_await s.handshake(false);
      if (hec)
        co_return fail(Code::unavailable, cfg,
                       "TLS handshake failed (tls: " + std::string(config::to_string(cfg.tls)) +
                           "): " + hec.message());
      verified_tls = cfg.tls == config::UpstreamTls::verify_full;
    } else if (answer == 'N') {
      if (cfg.tls != config::UpstreamTls::prefer)
        co_return fail(Code::unavailable, cfg,
                       "the server does not support TLS but the connection requires it (tls: " +
                           std::string(config::to_string(cfg.tls)) + ")");
    } else {
      co_return fail(Code::protocol_violation, cfg, "unexpected answer to SSLRequest");
    }
  }

  std::vector<std::pair<std::string, std::string>> startup = {{"user", cfg.user},
                                                              {"database", cfg.database}};
  for (const auto& kv : pinned_settings()) startup.push_back(kv);
  for (const auto& kv : settings) {
    bool pinned = false;
    for (const auto& p : pinned_settings()) pinned |= p.first == kv.first;
    if (!pinned) startup.push_back(kv);
  }
  std::string out;
  wire::append_startup(out, startup);
  if (auto [ec, n] = co_await s.write(as_bytes(out)); ec)
    co_return fail(Code::unavailable, cfg, "sending the startup packet: " + ec.message());

  // A password goes out only where a network attacker cannot be the one asking for it.
  const bool may_send_password = verified_tls || is_loopback(endpoint.address());
  FrameReader reader(1 << 20);
  std::optional<crypto::ScramClient> scram;
  bool authenticated = false;
  for (;;) {
    auto fr = co_await reader.next(s);
    if (!fr) co_return fail(Code::unavailable, cfg, "during login: " + fr.status().message());
    const wire::Frame& f = *fr;
    out.clear();
    switch (f.type) {
      case wire::be::kAuthentication: {
        auto a = wire::parse_authentication(f.body);
        if (!a) co_return fail(Code::protocol_violation, cfg, "malformed authentication request");
        switch (a->code) {
          case wire::AuthCode::ok:
            authenticated = true;
            break;
          case wire::AuthCode::cleartext_password:
          case wire::AuthCode::md5_password: {
            bool md5 = a->code == wire::AuthCode::md5_password;
            if (!may_send_password)
              co_return fail(Code::permission_denied, cfg,
                             std::string("the server asked for ") + (md5 ? "MD5" : "cleartext") +
                                 " password authentication over a connection that is neither "
                                 "verified TLS nor loopback; the gateway will not send its "
                                 "password (use tls: verify-full, or SCRAM-SHA-256 on the server)");
            if (md5) {
              if (a->data.size() != 4)
                co_return fail(Code::protocol_violation, cfg, "malformed MD5 salt");
              std::string inner = crypto::md5_hex(std::string(cfg.password.reveal()) + cfg.user);
              std::string salted = crypto::md5_hex(inner + std::string(as_chars(a->data)));
              wire::append_password(out, "md5" + salted);
            } else {
              wire::append_password(out, cfg.password.reveal());
            }
            break;
          }
          case wire::AuthCode::sasl: {
            auto mechs = wire::parse_sasl_mechanisms(a->data);
            bool has =
                mechs && std::find(mechs->begin(), mechs->end(), "SCRAM-SHA-256") != mechs->end();
            if (!has)
              co_return fail(Code::permission_denied, cfg,
                             "the server offers no SASL mechanism the gateway supports "
                             "(SCRAM-SHA-256)");
            scram.emplace(std::string(cfg.password.reveal()));
            wire::append_sasl_initial(out, "SCRAM-SHA-256", scram->client_first());
            break;
          }
          case wire::AuthCode::sasl_continue: {
            if (!scram) co_return fail(Code::protocol_violation, cfg, "SASL continue without SASL");
            auto final_msg = scram->on_server_first(as_chars(a->data));
            if (!final_msg)
              co_return fail(final_msg.status().code(), cfg, final_msg.status().message());
            wire::append_sasl_response(out, *final_msg);
            break;
          }
          case wire::AuthCode::sasl_final: {
            if (!scram) co_return fail(Code::protocol_violation, cfg, "SASL final without SASL");
            Status st = scram->on_server_final(as_chars(a->data));
            if (!st.is_ok()) co_return fail(st.code(), cfg, st.message());
            break;
          }
          default:
            co_return fail(Code::permission_denied, cfg,
                           "the server asked for an authentication method the gateway does not "
                           "support (code " +
                               std::to_string(static_cast<int>(a->code)) +
                               "); use SCRAM-SHA-256, MD5 or password");
        }
        if (!out.empty()) {
          if (auto [ec, n] = co_await s.write(as_bytes(out)); ec)
            co_return fail(Code::unavailable, cfg, "during login: " + ec.message());
        }
        break;
      }
      case wire::be::kErrorResponse: {
        auto e = wire::parse_error_fields(f.body);
        std::string msg = e ? std::string(e->message) : "malformed error";
        std::string code = e ? std::string(e->sqlstate) : "";
        Code c = code.rfind("28", 0) == 0 ? Code::permission_denied : Code::unavailable;
        co_return fail(c, cfg,
                       "the server refused the gateway's login: " + msg +
                           (code.empty() ? "" : " (SQLSTATE " + code + ")"));
      }
      case wire::be::kParameterStatus: {
        auto p = wire::parse_parameter_status(f.body);
        if (!p) co_return fail(Code::protocol_violation, cfg, "malformed ParameterStatus");
        conn.parameters.emplace_back(std::string(p->name), std::string(p->value));
        break;
      }
      case wire::be::kBackendKeyData: {
        auto k = wire::parse_backend_key_data(f.body);
        if (!k) co_return fail(Code::protocol_violation, cfg, "malformed BackendKeyData");
        conn.key = *k;
        break;
      }
      case wire::be::kNoticeResponse:
      case wire::be::kNegotiateProtocolVersion:
        break;
      case wire::be::kReadyForQuery: {
        if (!authenticated)
          co_return fail(Code::protocol_violation, cfg, "ReadyForQuery before authentication");
        for (const auto& [k, v] : conn.parameters) {
          if ((k == "standard_conforming_strings" && v != "on") ||
              (k == "client_encoding" && v != "UTF8"))
            co_return fail(Code::failed_precondition, cfg,
                           "the server reports " + k + "=" + v +
                               ", but the gateway pins it (standard_conforming_strings=on, "
                               "client_encoding=UTF8)");
        }
        warn_if_superuser(cfg, conn.parameters);
        auto rest = reader.buffered_bytes();
        conn.pending.assign(rest.begin(), rest.end());
        co_return std::move(conn);
      }
      default:
        co_return fail(Code::protocol_violation, cfg,
                       "unexpected " + std::string(wire::backend_name(f.type)) + " during login");
    }
  }
}

awaitable<void> send_cancel(tcp::endpoint endpoint, wire::CancelKey key) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket socket(ex);
  auto [ec] = co_await socket.async_connect(endpoint, use_nothrow);
  if (ec) {
    log::warn("upstream", "cannot send a cancel request to ", endpoint.address().to_string(), ":",
              endpoint.port(), ": ", ec.message());
    co_return;
  }
  std::string out;
  wire::append_cancel_request(out, key);
  co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
  // The server closes the connection once it has read the request.
  char b;
  co_await socket.async_read_some(asio::buffer(&b, 1), use_nothrow);
}

}  // namespace sluice::session::pg
