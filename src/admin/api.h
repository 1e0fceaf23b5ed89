// AdminApi: the routes of the admin listener (docs/api.md).
//
//   GET  /healthz, /readyz, /metrics            no credential
//   GET  /v1/whoami                             who the credential says you are
//   POST /v1/grants                             request access (for yourself)
//   GET  /v1/grants[?status=S][&review=true]    your requests, or those you may review
//   GET  /v1/grants/{id}                        the requester's or a reviewer's view
//   GET  /v1/grants/{id}/token                  the requester, once, after approval
//   POST /v1/grants/{id}/approve|deny|revoke    reviewers (revoke: the requester too)
//
// Every /v1 route takes `Authorization: Bearer <OIDC access token | slk_ API key>`. Errors
// are JSON {"error": code, "reason": text}; 401 carries a WWW-Authenticate header (RFC 6750).
// State store calls block the admin thread briefly; the data path never waits on it.
#pragma once

#include <functional>
#include <map>

#include "admin/http_server.h"
#include "audit/audit_log.h"
#include "config/config.h"
#include "identity/api_keys.h"
#include "identity/grant_service.h"
#include "identity/oidc.h"
#include "store/state_store.h"

namespace sluice::admin {

struct ApiDeps {
  const config::Config& config;
  store::StateStore& store;
  identity::OidcVerifier& oidc;
  // Empty when ready; otherwise why not (draining, an issuer's keys missing...).
  std::function<std::vector<std::string>()> not_ready;
  // Not ok when the gateway cannot do its job safely (the audit log cannot be written).
  std::function<Status()> health;
  audit::AuditLog* audit = nullptr;  // for the live tail; null when recording is off
};

class AdminApi {
 public:
  explicit AdminApi(ApiDeps deps);
  net::awaitable<Response> handle(Request request);

 private:
  net::awaitable<Result<policy::Principal>> authenticate(const Request& r);
  Response grants_create(const policy::Principal& who, const Request& r);
  Response grants_list(const policy::Principal& who, const Request& r);
  Response grant_show(const policy::Principal& who, const std::string& id);
  Response grant_token(const policy::Principal& who, const std::string& id);
  Response grant_decide(const policy::Principal& who, const std::string& id,
                        const std::string& action, const Request& r);
  bool may_review(const policy::Principal& who, const store::GrantRecord& g) const;
  net::awaitable<Response> session_events(const policy::Principal& who, std::string id,
                                          const Request& r);

  // Requests per identity in the current minute (the admin API runs on one thread).
  bool over_request_rate(const std::string& identity);
  struct RateWindow {
    std::int64_t minute = 0;
    int count = 0;
  };
  std::map<std::string, RateWindow> request_rate_;

  ApiDeps deps_;
  identity::GrantService grants_;
  identity::ApiKeyService keys_;
};

}  // namespace sluice::admin
