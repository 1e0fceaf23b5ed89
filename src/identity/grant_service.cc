#include "identity/grant_service.h"

#include "crypto/primitives.h"
#include "identity/token.h"

namespace sluice::identity {
using store::TimeMs;
namespace {

constexpr std::size_t kMaxPendingPerIdentity = 20;

bool valid_scope_name(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

// A new grant record for what `r` asks, created `now`; the caller decides its outcome.
store::GrantRecord new_grant(const GrantRequest& r, TimeMs now) {
  store::GrantRecord g;
  g.id = store::new_id("g_");
  g.identity = r.identity;
  g.connection = r.connection;
  g.access = r.access;
  g.tables = r.tables;
  g.columns = r.columns;
  g.role = r.role;
  g.reason = r.reason;
  g.requested_by = r.requested_by.empty() ? r.identity : r.requested_by;
  g.groups = r.groups;
  g.ttl_ms = r.ttl_ms;
  g.max_sessions = r.max_sessions;
  g.created_at = now;
  return g;
}

// The grant `id` inside a transaction; not_found (pointing at `grants list`) when absent.
Result<store::GrantRecord> grant_in(store::StateTx& tx, std::string_view id) {
  auto found = tx.get_grant(id);
  if (!found) return found.status();
  if (!found->has_value())
    return error(Code::not_found,
                 "no grant with id " + std::string(id) + " (see sluice grants list)");
  return std::move(**found);
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

store::TokenRecord GrantService::new_token(std::string_view grant_id, std::string_view identity,
                                           TimeMs now, std::string_view install_secret,
                                           std::string& token_out) {
  token_out = generate_token();
  auto verifier = token_verifier(token_out, scram_salt_for(install_secret, identity));
  store::TokenRecord t;
  t.id = store::new_id("t_");
  t.grant_id = std::string(grant_id);
  t.lookup_hash = token_lookup_hash(token_out);
  t.scram_iterations = verifier.iterations;
  t.scram_salt = verifier.salt;
  t.scram_stored_key = std::string(crypto::view(verifier.stored_key));
  t.scram_server_key = std::string(crypto::view(verifier.server_key));
  t.created_at = now;
  return t;
}

Result<store::GrantRecord> GrantService::request(const GrantRequest& r,
                                                 const policy::Principal& who,
                                                 const policy::Roles& roles) {
  SLUICE_TRY(validate(r));
  policy::AccessRequest ar;
  ar.connection = r.connection;
  ar.ttl_ms = r.ttl_ms;
  ar.write = r.access == "write";
  ar.tables = r.tables;
  ar.columns = r.columns;
  ar.role = r.role;
  policy::RequestDecision d = policy::decide_request(roles, who, ar);

  store::GrantRecord g = new_grant(r, store_.now());
  g.requested_by = r.identity;  // requests are always for oneself
  g.role = d.role ? d.role->name : r.role;
  g.max_sessions = d.role ? d.role->max_sessions : 0;
  std::string_view change = store::change_kind::kGrantRequested;
  switch (d.outcome) {
    case policy::RequestDecision::Outcome::approve:
      g.status = store::GrantStatus::approved;
      g.decided_by = "role:" + g.role;
      g.decided_at = g.starts_at = g.created_at;
      g.expires_at = g.created_at + r.ttl_ms;
      change = store::change_kind::kGrantApproved;
      break;
    case policy::RequestDecision::Outcome::review:
      g.status = store::GrantStatus::pending;
      break;
    case policy::RequestDecision::Outcome::deny:
      g.status = store::GrantStatus::denied;
      g.decided_by = "policy";
      g.decided_at = g.created_at;
      change = store::change_kind::kGrantDenied;
      break;
  }
  g.decision_reason = d.reason;
  // A bound on what one caller can queue for reviewers (and write into the store).
  if (g.status == store::GrantStatus::pending) {
    store::GrantFilter f;
    f.identity = g.identity;
    f.status = store::GrantStatus::pending;
    f.limit = kMaxPendingPerIdentity;
    auto pending = store_.list_grants(f);
    if (!pending) return pending.status();
    if (pending->size() >= kMaxPendingPerIdentity)
      return error(Code::resource_exhausted,
                   g.identity + " already has " + std::to_string(kMaxPendingPerIdentity) +
                       " requests waiting for review; wait for decisions or revoke some");
  }
  SLUICE_TRY(store_.transact([&](store::StateTx& tx) -> Status {
    SLUICE_TRY(tx.insert_grant(g));
    return tx.append_change(change, g.id);
  }));
  return g;
}

Result<store::GrantRecord> GrantService::approve(std::string_view id,
                                                 const policy::Principal& reviewer,
                                                 const policy::Roles& roles, bool local_admin) {
  return decide(id, reviewer, true, "", roles, local_admin);
}

Result<store::GrantRecord> GrantService::deny(std::string_view id,
                                              const policy::Principal& reviewer,
                                              std::string_view reason, const policy::Roles& roles,
                                              bool local_admin) {
  if (reason.empty())
    return error(Code::invalid_argument, "a denial needs a reason, for the requester to read");
  return decide(id, reviewer, false, reason, roles, local_admin);
}

Result<store::GrantRecord> GrantService::decide(std::string_view id,
                                                const policy::Principal& reviewer, bool approve,
                                                std::string_view reason, const policy::Roles& roles,
                                                bool local_admin) {
  if (!valid_identity(reviewer.identity))
    return error(Code::invalid_argument, "the reviewer needs an identity (--as NAME)");
  store::GrantRecord g;
  const TimeMs now = store_.now();  // read outside the transaction (the store's lock)
  Status st = store_.transact([&](store::StateTx& tx) -> Status {
    auto found = grant_in(tx, id);
    if (!found) return found.status();
    g = std::move(*found);
    if (g.status != store::GrantStatus::pending)
      return error(Code::failed_precondition,
                   "grant " + g.id + " is " + std::string(store::to_string(g.status)) +
                       ", not pending; only pending requests are decided");
    if (reviewer.identity == g.requested_by || reviewer.identity == g.identity)
      return error(Code::permission_denied,
                   "nobody may decide their own request; ask another reviewer");
    const policy::Role* role = roles.find(g.role);
    if (!local_admin && (!role || !policy::can_review(*role, reviewer)))
      return error(Code::permission_denied, reviewer.identity + " is not a reviewer for role " +
                                                (g.role.empty() ? std::string("(none)") : g.role));
    if (approve && now - g.created_at > kPendingLifetimeMs)
      return error(Code::failed_precondition,
                   "grant " + g.id + " was requested more than 24h ago; ask for a new one");
    g.decided_by = reviewer.identity;
    g.decided_at = now;
    g.decision_reason = std::string(reason);
    if (approve) {
      g.status = store::GrantStatus::approved;
      g.starts_at = now;  // the window runs from approval, not from connect
      g.expires_at = now + g.ttl_ms;
    } else {
      g.status = store::GrantStatus::denied;
    }
    SLUICE_TRY(tx.update_grant(g));
    return tx.append_change(
        approve ? store::change_kind::kGrantApproved : store::change_kind::kGrantDenied, g.id);
  });
  if (!st.is_ok()) return st;
  return g;
}

Result<IssuedToken> GrantService::take_token(std::string_view id,
                                             const policy::Principal& requester) {
  IssuedToken out;
  std::string token;
  // Read before the transaction: the store allows one call at a time.
  auto secret = store_.install_secret();
  if (!secret) return std::move(secret).take_status();
  const TimeMs now = store_.now();
  // The verifier (PBKDF2) is derived before the transaction, not while holding the store.
  store::TokenRecord t = new_token(id, requester.identity, now, *secret, token);
  Status st = store_.transact([&](store::StateTx& tx) -> Status {
    auto found = tx.get_grant(id);
    if (!found) return found.status();
    // The same answer for another identity's grant and for none: ids are not secrets, but
    // whether they exist is nobody else's business.
    if (!found->has_value() || (**found).identity != requester.identity)
      return error(Code::not_found,
                   "no grant with id " + std::string(id) + " for " + requester.identity);
    store::GrantRecord& g = **found;
    if (g.status == store::GrantStatus::pending)
      return error(Code::unavailable, "grant " + g.id + " is still pending review");
    if (g.status != store::GrantStatus::approved)
      return error(Code::permission_denied,
                   "grant " + g.id + " was " + std::string(store::to_string(g.status)) +
                       (g.decision_reason.empty() ? "" : ": " + g.decision_reason));
    if (g.token_issued_at != 0)
      return error(Code::failed_precondition,
                   "the token of grant " + g.id + " was already fetched; it is handed out once");
    if (now >= g.expires_at)
      return error(Code::failed_precondition, "the window of grant " + g.id + " has ended");
    t.grant_id = g.id;
    g.token_issued_at = now;
    SLUICE_TRY(tx.update_grant(g));
    SLUICE_TRY(tx.insert_token(t));
    out.grant = g;
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  out.token = std::move(token);
  return out;
}

Result<IssuedToken> GrantService::issue_local(const GrantRequest& r, std::string_view approver) {
  SLUICE_TRY(validate(r));
  auto secret = store_.install_secret();
  if (!secret) return std::move(secret).take_status();
  IssuedToken out;
  store::GrantRecord& g = out.grant;
  g = new_grant(r, store_.now());
  g.requested_by = r.requested_by.empty() ? std::string(approver) : r.requested_by;
  g.status = store::GrantStatus::approved;
  g.decided_by = std::string(approver);
  g.decided_at = g.created_at;
  g.starts_at = g.created_at;
  g.expires_at = g.created_at + r.ttl_ms;

  g.token_issued_at = g.created_at;
  store::TokenRecord t = new_token(g.id, g.identity, g.created_at, *secret, out.token);

  SLUICE_TRY(store_.transact([&](store::StateTx& tx) -> Status {
    SLUICE_TRY(tx.insert_grant(g));
    SLUICE_TRY(tx.insert_token(t));
    return tx.append_change(store::change_kind::kGrantApproved, g.id);
  }));
  return out;
}

Result<store::GrantRecord> GrantService::revoke(std::string_view grant_id, std::string_view by) {
  store::GrantRecord result;
  const TimeMs now = store_.now();
  Status st = store_.transact([&](store::StateTx& tx) -> Status {
    auto g = grant_in(tx, grant_id);
    if (!g) return g.status();
    result = std::move(*g);
    if (result.status == store::GrantStatus::revoked)
      return error(Code::failed_precondition, "grant " + result.id + " is already revoked");
    if (result.status == store::GrantStatus::denied)
      return error(Code::failed_precondition,
                   "grant " + result.id + " was denied; nothing to revoke");
    result.status = store::GrantStatus::revoked;
    result.revoked_at = now;
    result.revoked_by = std::string(by);
    SLUICE_TRY(tx.update_grant(result));
    return tx.append_change(store::change_kind::kGrantRevoked, result.id);
  });
  if (!st.is_ok()) return st;
  return result;
}

}  // namespace sluice::identity
