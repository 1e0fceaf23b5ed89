// GrantService: creating, deciding and revoking grants in the state store.
//
// Every state change that live sessions must act on is written with a change-feed entry in
// the same transaction. Thread-safe (the store is); methods block on the store.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "policy/roles.h"
#include "store/state_store.h"

namespace sluice::identity {

struct GrantRequest {
  std::string identity;
  std::string connection;
  std::int64_t ttl_ms = 0;
  std::string access = "read";  // read | write
  std::vector<std::string> tables;
  std::vector<std::string> columns;
  std::string role;
  std::string reason;
  std::string requested_by;
  std::vector<std::string> groups;  // the requester's, recorded on the grant
  int max_sessions = 0;             // local issue: the role's cap
};

struct IssuedToken {
  store::GrantRecord grant;
  std::string token;  // shown once, never stored
};

class GrantService {
 public:
  explicit GrantService(store::StateStore& store) : store_(store) {}

  // A grant approved at once by the local administrator, with its token (`sluice token
  // issue`). The window starts now.
  Result<IssuedToken> issue_local(const GrantRequest& request, std::string_view approver);

  // A request from an authenticated principal for itself: decided by its roles at once
  // (approved or denied) or left pending for a reviewer. Every request is recorded, denied
  // ones included.
  Result<store::GrantRecord> request(const GrantRequest& request, const policy::Principal& who,
                                     const policy::Roles& roles);

  // A reviewer's decision on a pending request. `reviewer` must be allowed to review the
  // grant's role (unless `local_admin`: the CLI on the host) and may never be the requester.
  // An approved window starts now.
  Result<store::GrantRecord> approve(std::string_view grant_id, const policy::Principal& reviewer,
                                     const policy::Roles& roles, bool local_admin);
  Result<store::GrantRecord> deny(std::string_view grant_id, const policy::Principal& reviewer,
                                  std::string_view reason, const policy::Roles& roles,
                                  bool local_admin);

  // The token of an approved, live grant, created now and handed out once: to the requester,
  // the first time it asks. Later calls fail with failed_precondition ("already fetched").
  Result<IssuedToken> take_token(std::string_view grant_id, const policy::Principal& requester);

  // Ends a grant now; live sessions using it end within a second.
  Result<store::GrantRecord> revoke(std::string_view grant_id, std::string_view by);

  // Pending requests older than this cannot be approved any more.
  static constexpr std::int64_t kPendingLifetimeMs = 24LL * 3600 * 1000;

 private:
  Status validate(const GrantRequest& r) const;
  store::TokenRecord new_token(std::string_view grant_id, std::string_view identity,
                               store::TimeMs now, std::string_view install_secret,
                               std::string& token_out);
  Result<store::GrantRecord> decide(std::string_view grant_id, const policy::Principal& reviewer,
                                    bool approve, std::string_view reason,
                                    const policy::Roles& roles, bool local_admin);
  store::StateStore& store_;
};

}  // namespace sluice::identity
