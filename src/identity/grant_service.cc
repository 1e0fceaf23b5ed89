#include "identity/grant_service.h"

#include "identity/token.h"

namespace sluice::identity {
namespace {

bool valid_scope_name(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

}  // namespace

Status GrantService::validate(const GrantRequest& r) const {
  if (!valid_identity(r.identity))
    return error(Code::invalid_argument,
                 "identity must be 1-128 printable characters without spaces");
  if (r.connection.empty()) return error(Code::invalid_argument, "a connection is required");
  if (r.ttl_ms <= 0) return error(Code::invalid_argument, "the window (ttl) must be positive");
  if (r.ttl_ms > 7LL * 24 * 3600 * 1000)
    return error(Code::invalid_argument, "the window (ttl) may be at most 7 days");
  if (r.access != "read" && r.access != "write")
    return error(Code::invalid_argument, "access must be read or write");
  for (const auto& t : r.tables)
    if (!valid_scope_name(t)) return error(Code::invalid_argument, "invalid table name in scope");
  for (const auto& c : r.columns)
    if (!valid_scope_name(c)) return error(Code::invalid_argument, "invalid column name in scope");
  return Status::ok();
}

Result<IssuedToken> GrantService::issue_local(const GrantRequest& r, std::string_view approver) {
  SLUICE_TRY(validate(r));
  auto secret = store_.install_secret();
  if (!secret) return std::move(secret).take_status();

  IssuedToken out;
  store::GrantRecord& g = out.grant;
  g.id = store::new_id("g_");
  g.identity = r.identity;
  g.connection = r.connection;
  g.access = r.access;
  g.tables = r.tables;
  g.columns = r.columns;
  g.role = r.role;
  g.reason = r.reason;
  g.status = store::GrantStatus::approved;
  g.requested_by = r.requested_by.empty() ? std::string(approver) : r.requested_by;
  g.decided_by = std::string(approver);
  g.ttl_ms = r.ttl_ms;
  g.created_at = store_.now();
  g.decided_at = g.created_at;
  g.starts_at = g.created_at;
  g.expires_at = g.created_at + r.ttl_ms;

  out.token = generate_token();
  auto verifier = token_verifier(out.token, scram_salt_for(*secret, r.identity));
  store::TokenRecord t;
  t.id = store::new_id("t_");
  t.grant_id = g.id;
  t.lookup_hash = token_lookup_hash(out.token);
  t.scram_iterations = verifier.iterations;
  t.scram_salt = verifier.salt;
  t.scram_stored_key = std::string(crypto::view(verifier.stored_key));
  t.scram_server_key = std::string(crypto::view(verifier.server_key));
  t.created_at = g.created_at;

  SLUICE_TRY(store_.transact([&](store::StateTx& tx) -> Status {
    SLUICE_TRY(tx.insert_grant(g));
    SLUICE_TRY(tx.insert_token(t));
    return tx.append_change(store::change_kind::kGrantApproved, g.id);
  }));
  return out;
}

Result<store::GrantRecord> GrantService::revoke(std::string_view grant_id, std::string_view by) {
  store::GrantRecord result;
  Status st = store_.transact([&](store::StateTx& tx) -> Status {
    auto g = tx.get_grant(grant_id);
    if (!g) return g.status();
    if (!g->has_value())
      return error(Code::not_found,
                   "no grant with id " + std::string(grant_id) + " (see sluice grants list)");
    result = std::move(**g);
    if (result.status == store::GrantStatus::revoked)
      return error(Code::failed_precondition, "grant " + result.id + " is already revoked");
    if (result.status == store::GrantStatus::denied)
      return error(Code::failed_precondition,
                   "grant " + result.id + " was denied; nothing to revoke");
    result.status = store::GrantStatus::revoked;
    result.revoked_at = store_.now();
    result.revoked_by = std::string(by);
    SLUICE_TRY(tx.update_grant(result));
    return tx.append_change(store::change_kind::kGrantRevoked, result.id);
  });
  if (!st.is_ok()) return st;
  return result;
}

}  // namespace sluice::identity
