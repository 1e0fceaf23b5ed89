// GrantService: creating, deciding and revoking grants in the state store.
//
// Every state change that live sessions must act on is written with a change-feed entry in
// the same transaction. Thread-safe (the store is); methods block on the store.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
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

  // Ends a grant now; live sessions using it end within a second.
  Result<store::GrantRecord> revoke(std::string_view grant_id, std::string_view by);

 private:
  Status validate(const GrantRequest& r) const;
  store::StateStore& store_;
};

}  // namespace sluice::identity
