#include "admin/api.h"

#include <boost/json.hpp>

#include "admin/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"

namespace sluice::admin {
namespace {

namespace json = boost::json;

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

Response error_response(int status, std::string_view code, const std::string& reason) {
  json::object o;
  o["error"] = code;
  o["reason"] = reason;
  Response r = json_response(status, o);
  if (status == 401) {
    // Header-safe: printable ASCII only, no quotes (RFC 6750 error_description).
    std::string desc = reason.substr(0, 200);
    for (char& c : desc)
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') c = '\'';
    r.headers.emplace_back(
        "WWW-Authenticate",
        "Bearer realm=\"sluice\", error=\"invalid_token\", error_description=\"" + desc + "\"");
  }
  return r;
}

Response status_response(const Status& st) {
  switch (st.code()) {
    case Code::invalid_argument:
      return error_response(400, "invalid_request", st.message());
    case Code::unauthenticated:
      return error_response(401, "unauthenticated", st.message());
    case Code::permission_denied:
      return error_response(403, "forbidden", st.message());
    case Code::not_found:
      return error_response(404, "not_found", st.message());
    case Code::failed_precondition:
    case Code::already_exists:
      return error_response(409, "conflict", st.message());
    case Code::unavailable:
      return error_response(503, "unavailable", st.message());
    case Code::resource_exhausted:
      return error_response(429, "too_many_requests", st.message());
    default:
      return error_response(500, "internal", st.message());
  }
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// Reads a list of strings; false (with `why`) on anything else.
bool string_list(const json::value& v, std::vector<std::string>& out, std::string& why,
                 const char* name) {
  const json::array* a = v.if_array();
  if (!a) {
    why = std::string(name) + " must be a list of strings";
    return false;
  }
  if (a->size() > 256) {
    why = std::string(name) + " lists more than 256 entries";
    return false;
  }
  for (const auto& item : *a) {
    if (!item.is_string()) {
      why = std::string(name) + " must be a list of strings";
      return false;
    }
    out.emplace_back(item.as_string());
  }
  return true;
}

// POST /v1/grants body -> GrantRequest (identity filled by the caller).
Result<identity::GrantRequest> parse_grant_request(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return error(
        Code::invalid_argument,
        "the body must be a JSON object: {\"connection\", \"ttl\", \"scope\": {\"access\", "
        "\"tables\", \"columns\"}, \"reason\"}");
  const json::object& o = v.as_object();
  identity::GrantRequest r;
  std::string why;
  for (const auto& [key, val] : o) {
    if (key == "connection") {
      if (!val.is_string()) return error(Code::invalid_argument, "connection must be a string");
      r.connection = std::string(val.as_string());
    } else if (key == "ttl") {
      if (val.is_string()) {
        auto d = config::parse_duration(std::string(val.as_string()));
        if (!d) return error(Code::invalid_argument, "ttl must be a duration such as \"15m\"");
        r.ttl_ms = d->count();
      } else if (val.is_int64() && val.as_int64() > 0 && val.as_int64() <= 7 * 86400) {
        r.ttl_ms = val.as_int64() * 1000;
      } else {
        return error(Code::invalid_argument, "ttl must be a duration (\"15m\") or seconds");
      }
    } else if (key == "reason") {
      if (!val.is_string()) return error(Code::invalid_argument, "reason must be a string");
      r.reason = std::string(val.as_string());
      if (r.reason.size() > 1000)
        return error(Code::invalid_argument, "reason is longer than 1000 characters");
    } else if (key == "role") {
      if (!val.is_string()) return error(Code::invalid_argument, "role must be a string");
      r.role = std::string(val.as_string());
    } else if (key == "scope") {
      if (!val.is_object()) return error(Code::invalid_argument, "scope must be an object");
      for (const auto& [sk, sv] : val.as_object()) {
        if (sk == "access") {
          if (!sv.is_string())
            return error(Code::invalid_argument, "scope.access must be a string");
          r.access = std::string(sv.as_string());
        } else if (sk == "tables") {
          if (!string_list(sv, r.tables, why, "scope.tables"))
            return error(Code::invalid_argument, why);
        } else if (sk == "columns") {
          if (!string_list(sv, r.columns, why, "scope.columns"))
            return error(Code::invalid_argument, why);
        } else {
          return error(Code::invalid_argument, "unknown member scope." + std::string(sk) +
                                                   " (expected access, tables, columns)");
        }
      }
    } else {
      return error(Code::invalid_argument,
                   "unknown member \"" + std::string(key) +
                       "\" (expected connection, ttl, scope, reason, role)");
    }
  }
  if (r.connection.empty()) return error(Code::invalid_argument, "connection is required");
  if (r.ttl_ms <= 0) return error(Code::invalid_argument, "ttl is required (e.g. \"15m\")");
  return r;
}

// "/v1/grants/g_x/token" -> {"g_x", "token"}.
std::pair<std::string, std::string> grant_path(std::string_view path) {
  constexpr std::string_view prefix = "/v1/grants/";
  std::string_view rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return {std::string(rest), ""};
  return {std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

}  // namespace

AdminApi::AdminApi(ApiDeps deps)
    : deps_(std::move(deps)), grants_(deps_.store), keys_(deps_.store) {}

net::awaitable<Result<policy::Principal>> AdminApi::authenticate(const Request& r) {
  std::string_view auth = r.authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), auth.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
    co_return error(Code::unauthenticated,
                    "send Authorization: Bearer <OIDC access token or slk_ API key>");
  std::string credential(auth.substr(kBearer.size()));
  while (!credential.empty() && credential.back() == ' ') credential.pop_back();
  auto& m = metrics::counters();
  if (credential.rfind("slk_", 0) == 0) {
    auto p = keys_.authenticate(credential);
    (p ? m.api_key_accepted : m.api_key_rejected).add();
    co_return p;
  }
  if (!deps_.oidc.enabled())
    co_return error(Code::unauthenticated,
                    "no OpenID provider is configured (identity.oidc); use an slk_ API key");
  auto op = deps_.oidc.authenticate(std::move(credential));
  auto p = co_await std::move(op);
  co_return p;
}

bool AdminApi::may_review(const policy::Principal& who, const store::GrantRecord& g) const {
  const policy::Role* role = deps_.config.roles->find(g.role);
  return role && policy::can_review(*role, who) && who.identity != g.identity;
}

net::awaitable<Response> AdminApi::handle(Request r) {
  if (r.method == "GET" && r.path == "/healthz") {
    auto seq = deps_.store.last_change_seq();
    if (!seq) co_return error_response(503, "unhealthy", "the state store is unavailable");
    if (deps_.health)
      if (Status st = deps_.health(); !st.is_ok())
        co_return error_response(
            503, "unhealthy",
            "the audit log cannot be written (" + st.message() + "); statements are refused");
    json::object o;
    o["status"] = "ok";
    co_return json_response(200, o);
  }
  if (r.method == "GET" && r.path == "/readyz") {
    auto reasons = deps_.not_ready ? deps_.not_ready() : std::vector<std::string>{};
    json::object o;
    o["status"] = reasons.empty() ? "ready" : "not ready";
    if (!reasons.empty()) o["reasons"] = to_json(reasons);
    co_return json_response(reasons.empty() ? 200 : 503, o);
  }
  if (r.method == "GET" && r.path == "/metrics") {
    Response res;
    res.content_type = "text/plain; version=0.0.4";
    res.body = metrics::render();
    co_return res;
  }
  if (r.path.rfind("/v1/", 0) != 0)
    co_return error_response(404, "not_found",
                             "no route " + r.method + " " + r.path + " (see docs/api.md)");

  auto op = authenticate(r);
  auto who = co_await std::move(op);
  if (!who) {
    log::info("admin", r.remote, " ", r.method, " ", r.path, ": ", who.status().message());
    co_return status_response(who.status());
  }

  if (r.path == "/v1/whoami" && r.method == "GET") {
    json::object o;
    o["identity"] = who->identity;
    o["issuer"] = who->issuer;
    o["groups"] = to_json(who->groups);
    json::array roles;
    for (const auto& role : deps_.config.roles->list)
      if (policy::holds(role, *who)) roles.emplace_back(role.name);
    o["roles"] = std::move(roles);
    co_return json_response(200, o);
  }
  if (r.path == "/v1/grants") {
    if (r.method == "POST") co_return grants_create(*who, r);
    if (r.method == "GET") co_return grants_list(*who, r);
    co_return error_response(405, "method_not_allowed", "use GET or POST on /v1/grants");
  }
  if (r.path.rfind("/v1/sessions/", 0) == 0 && r.method == "GET") {
    std::string_view rest = std::string_view(r.path).substr(13);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && rest.substr(slash) == "/events") {
      auto op2 = session_events(*who, std::string(rest.substr(0, slash)), r);
      co_return co_await std::move(op2);
    }
  }
  if (r.path.rfind("/v1/grants/", 0) == 0) {
    auto [id, action] = grant_path(r.path);
    if (id.empty() || id.size() > 64) co_return error_response(404, "not_found", "no such grant");
    if (action.empty() && r.method == "GET") co_return grant_show(*who, id);
    if (action == "token" && r.method == "GET") co_return grant_token(*who, id);
    if ((action == "approve" || action == "deny" || action == "revoke") && r.method == "POST")
      co_return grant_decide(*who, id, action, r);
  }
  co_return error_response(404, "not_found",
                           "no route " + r.method + " " + r.path + " (see docs/api.md)");
}

bool AdminApi::over_request_rate(const std::string& identity) {
  constexpr int kPerMinute = 30;
  std::int64_t minute = now_ms() / 60'000;
  if (request_rate_.size() > 10'000) request_rate_.clear();  // bounded memory
  auto& w = request_rate_[identity];
  if (w.minute != minute) w = {minute, 0};
  return ++w.count > kPerMinute;
}

// The live tail of a session: its records after `after` (a seq), waiting up to `wait`
// seconds (at most 30) for new ones. Poll with the returned `next` to follow the session.
// For the session's own identity and the reviewers of its grant's role.
net::awaitable<Response> AdminApi::session_events(const policy::Principal& who, std::string id,
                                                  const Request& r) {
  if (!deps_.audit)
    co_return error_response(404, "not_found", "session recording is off (audit.enabled)");
  store::SessionFilter f;
  f.id = id;
  f.limit = 1;
  auto found = deps_.store.list_sessions(f);
  if (!found) co_return status_response(found.status());
  bool visible = false;
  bool live = false;
  if (!found->empty()) {
    const auto& s = found->front();
    live = s.ended_at == 0;
    visible = s.identity == who.identity;
    if (!visible)
      if (auto g = deps_.store.get_grant(s.grant_id); g && g->has_value())
        visible = may_review(who, **g);
  }
  if (!visible)
    co_return error_response(404, "not_found", "no session " + id + " visible to " + who.identity);
  std::uint64_t after = 0;
  long wait_s = 0;
  try {
    if (auto a = query_param(r.query, "after")) after = std::stoull(*a);
    if (auto w = query_param(r.query, "wait")) wait_s = std::min(30L, std::stol(*w));
  } catch (const std::exception&) {
    co_return error_response(400, "invalid_request", "after and wait are numbers");
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  auto events = deps_.audit->recent(after, id, 1000);
  auto ex = co_await net::asio::this_coro::executor;
  // A session that just ended may still have its last records on their way to the log.
  if (!live && wait_s > 2) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (events.empty() && std::chrono::steady_clock::now() < deadline) {
    net::asio::steady_timer t(ex, std::chrono::milliseconds(100));
    auto op = t.async_wait(net::use_nothrow);
    co_await std::move(op);
    events = deps_.audit->recent(after, id, 1000);
  }
  json::array arr;
  std::uint64_t next = after;
  // Ended: its session_end record was returned, or it is over and nothing more is coming.
  bool ended = !live && events.empty();
  for (const auto& e : events) {
    json::object o;
    o["seq"] = e.seq;
    o["kind"] = audit::kind_name(e.kind);
    o["time"] = format_utc(e.time_us / 1000);
    boost::system::error_code ec;
    json::value body = json::parse(e.body, ec);
    o["body"] = ec ? json::value(e.body) : std::move(body);
    arr.push_back(std::move(o));
    next = e.seq;
    if (e.kind == audit::Kind::session_end) ended = true;
  }
  json::object out;
  out["events"] = std::move(arr);
  out["next"] = next;
  out["ended"] = ended;
  co_return json_response(200, out);
}

Response AdminApi::grants_create(const policy::Principal& who, const Request& r) {
  if (over_request_rate(who.identity))
    return error_response(429, "too_many_requests",
                          who.identity +
                              " made more than 30 grant requests this minute; retry "
                              "in a minute");
  auto req = parse_grant_request(r.body);
  if (!req) return status_response(req.status());
  if (!deps_.config.find_connection(req->connection))
    return error_response(400, "invalid_request",
                          "there is no connection named " + req->connection);
  req->identity = who.identity;
  req->requested_by = who.identity;
  req->groups = who.groups;
  auto& m = metrics::counters();
  m.grants_requested.add();
  auto g = grants_.request(*req, who, *deps_.config.roles);
  if (!g) return status_response(g.status());
  if (g->status == store::GrantStatus::approved) m.grants_approved.add();
  if (g->status == store::GrantStatus::denied) m.grants_denied.add();
  log::info("admin", who.identity, " requested ", req->access, " access to ", req->connection,
            " for ", req->ttl_ms / 1000, "s: grant ", g->id, " ", store::to_string(g->status),
            g->decision_reason.empty() ? "" : " (" + g->decision_reason + ")");
  return json_response(201, grant_to_json(*g, now_ms()));
}

Response AdminApi::grants_list(const policy::Principal& who, const Request& r) {
  store::GrantFilter f;
  f.limit = 500;
  if (auto s = query_param(r.query, "status")) {
    f.status = store::parse_grant_status(*s);
    if (!f.status)
      return error_response(400, "invalid_request",
                            "status must be pending, approved, denied or revoked");
  }
  bool review = query_param(r.query, "review").value_or("") == "true";
  if (!review) f.identity = who.identity;
  auto list = deps_.store.list_grants(f);
  if (!list) return status_response(list.status());
  json::array arr;
  store::TimeMs now = now_ms();
  for (const auto& g : *list)
    if (!review || may_review(who, g)) arr.push_back(grant_to_json(g, now));
  return json_response(200, arr);
}

Response AdminApi::grant_show(const policy::Principal& who, const std::string& id) {
  auto g = deps_.store.get_grant(id);
  if (!g) return status_response(g.status());
  if (!g->has_value() || ((**g).identity != who.identity && !may_review(who, **g)))
    return error_response(404, "not_found", "no grant " + id + " visible to " + who.identity);
  return json_response(200, grant_to_json(**g, now_ms()));
}

Response AdminApi::grant_token(const policy::Principal& who, const std::string& id) {
  auto issued = grants_.take_token(id, who);
  if (!issued) {
    const Status& st = issued.status();
    switch (st.code()) {
      case Code::unavailable:
        return error_response(409, "pending", st.message());
      case Code::failed_precondition:
        return error_response(410, "gone", st.message());
      default:
        return status_response(st);
    }
  }
  metrics::counters().tokens_fetched.add();
  const auto& g = issued->grant;
  json::object o;
  o["token"] = issued->token;
  o["grant_id"] = g.id;
  o["identity"] = g.identity;
  o["connection"] = g.connection;
  o["expires_at"] = format_utc(g.expires_at);
  if (deps_.config.listen_postgres)
    o["postgres_url"] = "postgresql://" + g.identity + "@" +
                        deps_.config.listen_postgres->to_string() + "/" + g.connection;
  log::info("admin", who.identity, " fetched the token of grant ", g.id);
  Response res = json_response(200, o);
  return res;
}

Response AdminApi::grant_decide(const policy::Principal& who, const std::string& id,
                                const std::string& action, const Request& r) {
  auto& m = metrics::counters();
  if (action == "revoke") {
    auto g = deps_.store.get_grant(id);
    if (!g) return status_response(g.status());
    if (!g->has_value() || ((**g).identity != who.identity && !may_review(who, **g)))
      return error_response(404, "not_found", "no grant " + id + " visible to " + who.identity);
    auto revoked = grants_.revoke(id, who.identity);
    if (!revoked) return status_response(revoked.status());
    m.grants_revoked.add();
    log::info("admin", who.identity, " revoked grant ", id);
    return json_response(200, grant_to_json(*revoked, now_ms()));
  }
  std::string reason;
  if (!r.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (!o) return error_response(400, "invalid_request", "the body must be a JSON object");
    for (const auto& [k, val] : *o) {
      if (k != "reason" || !val.is_string())
        return error_response(400, "invalid_request", "expected {\"reason\": \"...\"}");
      reason = std::string(val.as_string());
    }
  }
  auto g = action == "approve" ? grants_.approve(id, who, *deps_.config.roles, false)
                               : grants_.deny(id, who, reason, *deps_.config.roles, false);
  if (!g) {
    // Reviewers who may not see a grant learn nothing about it.
    if (g.status().code() == Code::not_found)
      return error_response(404, "not_found", "no grant " + id);
    return status_response(g.status());
  }
  (action == "approve" ? m.grants_approved : m.grants_denied).add();
  log::info("admin", who.identity, " ", action == "approve" ? "approved" : "denied", " grant ", id,
            reason.empty() ? "" : ": " + reason);
  return json_response(200, grant_to_json(*g, now_ms()));
}

}  // namespace sluice::admin
