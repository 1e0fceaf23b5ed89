#include "identity/api_keys.h"

#include "identity/token.h"

namespace sluice::identity {

Result<ApiKeyService::Created> ApiKeyService::create(std::string_view identity,
                                                     const std::vector<std::string>& roles,
                                                     std::int64_t ttl_ms,
                                                     std::string_view created_by) {
  if (!valid_identity(identity))
    return error(Code::invalid_argument,
                 "identity must be 1-128 printable characters without spaces");
  if (roles.empty())
    return error(Code::invalid_argument, "an API key needs at least one role (--roles a,b)");
  if (ttl_ms < 0) return error(Code::invalid_argument, "the key's lifetime must be positive");
  Created out;
  out.key = generate_secret(kApiKeyPrefix);
  store::ApiKeyRecord& k = out.record;
  k.id = store::new_id("k_");
  k.identity = std::string(identity);
  k.roles = roles;
  k.lookup_hash = token_lookup_hash(out.key);
  k.created_by = std::string(created_by);
  k.created_at = store_.now();
  k.expires_at = ttl_ms ? k.created_at + ttl_ms : 0;
  SLUICE_TRY(store_.transact([&](store::StateTx& tx) { return tx.insert_api_key(k); }));
  return out;
}

Result<store::ApiKeyRecord> ApiKeyService::revoke(std::string_view id, std::string_view by) {
  store::ApiKeyRecord k;
  Status st = store_.transact([&](store::StateTx& tx) -> Status {
    auto found = tx.get_api_key(id);
    if (!found) return found.status();
    if (!found->has_value())
      return error(Code::not_found,
                   "no API key with id " + std::string(id) + " (see sluice apikeys list)");
    k = std::move(**found);
    if (k.revoked_at)
      return error(Code::failed_precondition, "API key " + k.id + " is already revoked");
    k.revoked_at = store_.now();
    k.revoked_by = std::string(by);
    SLUICE_TRY(tx.update_api_key(k));
    return tx.append_change(store::change_kind::kApiKeyRevoked, k.id);
  });
  if (!st.is_ok()) return st;
  return k;
}

Result<policy::Principal> ApiKeyService::authenticate(std::string_view key) {
  SLUICE_TRY(check_secret_format(key, kApiKeyPrefix, "API key"));
  auto found = store_.api_key_by_lookup_hash(token_lookup_hash(key));
  if (!found) return error(Code::unavailable, "the state store is unavailable; try again");
  if (!found->has_value()) return error(Code::unauthenticated, "unknown API key");
  const store::ApiKeyRecord& k = **found;
  if (k.revoked_at) return error(Code::unauthenticated, "API key " + k.id + " was revoked");
  if (!k.usable(store_.now()))
    return error(Code::unauthenticated, "API key " + k.id + " has expired");
  policy::Principal p;
  p.kind = policy::Principal::Kind::api_key;
  p.identity = k.identity;
  p.bound_roles = k.roles;
  p.issuer = "api-key";
  p.credential_id = k.id;
  return p;
}

}  // namespace sluice::identity
