// OidcVerifier: who an OIDC access token (a JWT) says its bearer is.
//
// For each configured issuer it fetches the discovery document (<issuer>/.well-known/
// openid-configuration), checks that it names the same issuer, then fetches the JWKS from its
// jwks_uri. Keys are cached; the JWKS is re-fetched when older than `jwks_max_age`, and at
// once for a token whose kid it does not know (key rotation), at most every
// `jwks_min_refresh` so that random kids cannot make the gateway hammer the provider.
// Validation itself is identity/jwt.h. Runs on the caller's executor; thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "identity/jwt.h"
#include "net/asio.h"
#include "policy/roles.h"

namespace sluice::identity {

class OidcVerifier {
 public:
  explicit OidcVerifier(const std::vector<config::OidcIssuer>& issuers);

  bool enabled() const { return !issuers_.empty(); }

  // The principal of a valid token, or unauthenticated with the reason.
  net::awaitable<Result<policy::Principal>> authenticate(std::string token);

  // Fetches every issuer's keys (at start-up); failures are logged and retried on use.
  net::awaitable<void> warm_up();

  // Issuers whose keys could not be fetched yet (for readiness).
  std::vector<std::string> unavailable() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Issuer {
    config::OidcIssuer cfg;
    JwtPolicy policy;
    mutable std::mutex mu;
    std::shared_ptr<const KeySet> keys;
    Clock::time_point fetched_at{};
    Clock::time_point last_attempt{};
    std::string jwks_uri;
  };
  net::awaitable<Result<std::shared_ptr<const KeySet>>> refresh(Issuer& issuer, bool forced);
  Result<policy::Principal> principal(const Issuer& issuer, const DecodedJwt& jwt) const;

  std::vector<std::unique_ptr<Issuer>> issuers_;
};

}  // namespace sluice::identity
