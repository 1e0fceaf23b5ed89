#include "identity/oidc.h"

#include <boost/json.hpp>

#include "core/log.h"
#include "core/metrics.h"
#include "identity/token.h"
#include "net/http_client.h"

namespace sluice::identity {
namespace {

std::int64_t now_seconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string discovery_url(const std::string& issuer) {
  std::string base = issuer;
  if (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/.well-known/openid-configuration";
}

}  // namespace

OidcVerifier::OidcVerifier(const std::vector<config::OidcIssuer>& issuers) {
  for (const auto& cfg : issuers) {
    auto i = std::make_unique<Issuer>();
    i->cfg = cfg;
    i->policy.issuer = cfg.issuer;
    i->policy.audience = cfg.audience;
    for (const auto& a : cfg.algorithms)
      if (auto alg = parse_jws_alg(a)) i->policy.algorithms.push_back(*alg);
    i->policy.clock_skew_s = cfg.clock_skew.count() / 1000;
    i->policy.max_lifetime_s = cfg.max_token_lifetime.count() / 1000;
    issuers_.push_back(std::move(i));
  }
}

net::awaitable<Result<std::shared_ptr<const KeySet>>> OidcVerifier::refresh(Issuer& is,
                                                                            bool forced) {
  std::string jwks_uri;
  {
    std::lock_guard lock(is.mu);
    auto now = Clock::now();
    bool fresh = is.keys && now - is.fetched_at < is.cfg.jwks_max_age;
    if (!forced && fresh) co_return is.keys;
    // Rate limit: a token with an unknown kid may trigger one fetch per jwks_min_refresh.
    if (is.last_attempt != Clock::time_point{} && now - is.last_attempt < is.cfg.jwks_min_refresh) {
      if (is.keys) co_return is.keys;
      co_return error(Code::unavailable, "the keys of issuer " + is.cfg.issuer +
                                             " could not be fetched; retrying shortly");
    }
    is.last_attempt = now;
    jwks_uri = is.jwks_uri;
  }
  auto& m = metrics::counters();
  if (jwks_uri.empty()) {
    net::HttpRequest req;
    req.url = discovery_url(is.cfg.issuer);
    req.ca_file = is.cfg.ca_file;
    req.max_body = 256 * 1024;
    m.jwks_fetches.add();
    auto op = net::http_fetch(std::move(req));  // no temporaries inside co_await (GCC 12)
    auto res = co_await std::move(op);
    if (!res || res->status != 200) {
      m.jwks_fetch_failures.add();
      co_return error(Code::unavailable,
                      "cannot read the discovery document of issuer " + is.cfg.issuer + ": " +
                          (res ? "HTTP " + std::to_string(res->status) : res.status().message()));
    }
    boost::system::error_code ec;
    auto doc = boost::json::parse(res->body, ec);
    const boost::json::object* obj = ec ? nullptr : doc.if_object();
    const boost::json::value* iss = obj ? obj->if_contains("issuer") : nullptr;
    const boost::json::value* uri = obj ? obj->if_contains("jwks_uri") : nullptr;
    if (!iss || !iss->is_string() || !uri || !uri->is_string()) {
      m.jwks_fetch_failures.add();
      co_return error(Code::unavailable, "the discovery document of issuer " + is.cfg.issuer +
                                             " has no issuer or jwks_uri");
    }
    // OpenID Connect Discovery §4.3: the document must be about the issuer we asked.
    if (iss->as_string() != is.cfg.issuer) {
      m.jwks_fetch_failures.add();
      co_return error(Code::unavailable, "the discovery document at " +
                                             discovery_url(is.cfg.issuer) + " is for issuer " +
                                             std::string(iss->as_string()));
    }
    jwks_uri = std::string(uri->as_string());
    // An https issuer's keys come over https too.
    if (is.cfg.issuer.rfind("https://", 0) == 0 && jwks_uri.rfind("https://", 0) != 0) {
      m.jwks_fetch_failures.add();
      co_return error(Code::unavailable,
                      "issuer " + is.cfg.issuer + " publishes its keys over plain http; refused");
    }
  }
  net::HttpRequest req;
  req.url = jwks_uri;
  req.ca_file = is.cfg.ca_file;
  req.max_body = 256 * 1024;
  m.jwks_fetches.add();
  auto op = net::http_fetch(std::move(req));
  auto res = co_await std::move(op);
  if (!res || res->status != 200) {
    m.jwks_fetch_failures.add();
    co_return error(Code::unavailable,
                    "cannot fetch the JWKS of issuer " + is.cfg.issuer + ": " +
                        (res ? "HTTP " + std::to_string(res->status) : res.status().message()));
  }
  auto parsed = parse_jwks(res->body);
  if (!parsed) {
    m.jwks_fetch_failures.add();
    co_return error(Code::unavailable, "the JWKS of issuer " + is.cfg.issuer +
                                           " is invalid: " + parsed.status().message());
  }
  for (const auto& s : parsed->skipped) log::info("oidc", is.cfg.issuer, ": skipped ", s);
  auto keys = std::make_shared<const KeySet>(std::move(*parsed));
  {
    std::lock_guard lock(is.mu);
    is.keys = keys;
    is.jwks_uri = jwks_uri;
    is.fetched_at = Clock::now();
  }
  log::info("oidc", is.cfg.issuer, ": ", keys->keys.size(), " signing keys loaded");
  co_return keys;
}

Result<policy::Principal> OidcVerifier::principal(const Issuer& is, const DecodedJwt& jwt) const {
  policy::Principal p;
  p.kind = policy::Principal::Kind::oidc;
  p.issuer = is.cfg.issuer;
  auto id = jwt.claims.find(is.cfg.identity_claim);
  if (id == jwt.claims.end() || id->second.type != Claim::Type::string)
    return error(Code::unauthenticated,
                 "the token has no string \"" + is.cfg.identity_claim + "\" claim");
  p.identity = is.cfg.identity_prefix + id->second.text;
  if (!valid_identity(p.identity))
    return error(Code::unauthenticated, "the token's identity is not 1-128 printable characters");
  auto g = jwt.claims.find(is.cfg.groups_claim);
  if (g != jwt.claims.end()) {
    if (g->second.type == Claim::Type::string_array) {
      p.groups = g->second.items;
    } else if (g->second.type == Claim::Type::string) {
      p.groups = {g->second.text};
    } else if (g->second.type != Claim::Type::null) {
      return error(Code::unauthenticated,
                   "the \"" + is.cfg.groups_claim + "\" claim is not a list of strings");
    }
  }
  if (p.groups.size() > 256) return error(Code::unauthenticated, "the token lists too many groups");
  // Groups live in the issuer's namespace, like identities.
  if (!is.cfg.identity_prefix.empty())
    for (auto& group : p.groups) group = is.cfg.identity_prefix + group;
  return p;
}

net::awaitable<Result<policy::Principal>> OidcVerifier::authenticate(std::string token) {
  auto& m = metrics::counters();
  std::size_t max_bytes = 0;
  for (const auto& is : issuers_)
    max_bytes = std::max<std::size_t>(max_bytes, is->cfg.max_token_bytes);
  auto jwt = decode_jwt(token, max_bytes);
  if (!jwt) {
    m.jwt_rejected.add();
    co_return jwt.status();
  }
  // The issuer claim only selects which issuer's keys and rules to check against; it is
  // checked again, after the signature, by verify_jwt.
  Issuer* issuer = nullptr;
  auto iss = jwt->claims.find("iss");
  if (iss != jwt->claims.end() && iss->second.type == Claim::Type::string)
    for (auto& is : issuers_)
      if (is->cfg.issuer == iss->second.text) issuer = is.get();
  if (!issuer) {
    m.jwt_rejected.add();
    co_return error(Code::unauthenticated,
                    iss == jwt->claims.end() || iss->second.type != Claim::Type::string
                        ? std::string("the token has no issuer (iss)")
                        : "the token's issuer is not one of the configured issuers");
  }
  if (token.size() > issuer->cfg.max_token_bytes) {
    m.jwt_rejected.add();
    co_return error(Code::unauthenticated,
                    "the token is over issuer " + issuer->cfg.issuer + "'s limit of " +
                        std::to_string(issuer->cfg.max_token_bytes) + " bytes");
  }
  auto keys = co_await refresh(*issuer, false);
  if (!keys) {
    m.jwt_rejected.add();
    co_return keys.status();
  }
  Status st = verify_jwt(*jwt, issuer->policy, **keys, now_seconds());
  if (is_unknown_kid(st)) {
    // Key rotation: the provider may have a key we have not seen yet.
    auto again = co_await refresh(*issuer, true);
    if (again && *again != *keys) st = verify_jwt(*jwt, issuer->policy, **again, now_seconds());
  }
  if (!st.is_ok()) {
    m.jwt_rejected.add();
    co_return st;
  }
  auto p = principal(*issuer, *jwt);
  if (!p) {
    m.jwt_rejected.add();
    co_return p.status();
  }
  m.jwt_accepted.add();
  co_return std::move(*p);
}

net::awaitable<void> OidcVerifier::warm_up() {
  for (auto& is : issuers_) {
    auto r = co_await refresh(*is, false);
    if (!r) log::warn("oidc", r.status().message());
  }
}

std::vector<std::string> OidcVerifier::unavailable() const {
  std::vector<std::string> out;
  for (const auto& is : issuers_) {
    std::lock_guard lock(is->mu);
    if (!is->keys) out.push_back(is->cfg.issuer);
  }
  return out;
}

}  // namespace sluice::identity
