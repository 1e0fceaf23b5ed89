// API keys for service agents: `slk_` + random + checksum (like JIT tokens, so scanners
// spot them), stored only as a SHA-256 lookup hash, bound to an identity and role names.
// Created and revoked by the local administrator (`sluice apikeys ...`); presented as a
// Bearer credential to the admin API.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "policy/roles.h"
#include "store/state_store.h"

namespace sluice::identity {

inline constexpr std::string_view kApiKeyPrefix = "slk_";

class ApiKeyService {
 public:
  explicit ApiKeyService(store::StateStore& store) : store_(store) {}

  struct Created {
    store::ApiKeyRecord record;
    std::string key;  // shown once
  };
  Result<Created> create(std::string_view identity, const std::vector<std::string>& roles,
                         std::int64_t ttl_ms, std::string_view created_by);
  Result<store::ApiKeyRecord> revoke(std::string_view id, std::string_view by);

  // The principal a presented key stands for; unauthenticated with a reason otherwise.
  Result<policy::Principal> authenticate(std::string_view key);

 private:
  store::StateStore& store_;
};

}  // namespace sluice::identity
