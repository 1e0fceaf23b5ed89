// The records the state store keeps: grants, their tokens, sessions, and the change feed.
//
// Plain values. Times are milliseconds since the Unix epoch, from the store's clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::store {

using TimeMs = std::int64_t;

enum class GrantStatus : std::uint8_t { pending, approved, denied, revoked };
std::string_view to_string(GrantStatus s);
std::optional<GrantStatus> parse_grant_status(std::string_view s);

// A request for access and its outcome. An approved grant is a window [starts_at, expires_at)
// with one token; it ends early when revoked.
struct GrantRecord {
  std::string id;
  std::string identity;
  std::string connection;
  std::string access = "read";  // read | write
  std::vector<std::string> tables;
  std::vector<std::string> columns;
  std::string role;
  std::string reason;
  GrantStatus status = GrantStatus::pending;
  std::string requested_by;
  std::string decided_by;
  std::string decision_reason;
  std::int64_t ttl_ms = 0;
  TimeMs created_at = 0;
  TimeMs decided_at = 0;
  TimeMs starts_at = 0;
  TimeMs expires_at = 0;
  TimeMs revoked_at = 0;
  std::string revoked_by;
  int max_sessions = 0;             // 0: no cap
  std::vector<std::string> groups;  // the requester's groups when it asked (for rules)
  TimeMs token_issued_at = 0;       // the token exists (it is handed out once)

  // Live at `now`: approved, started, not expired, not revoked.
  bool live(TimeMs now) const {
    return status == GrantStatus::approved && starts_at <= now && now < expires_at;
  }
};

// A token is never stored in clear: a lookup hash (for cleartext logins) and a SCRAM-SHA-256
// verifier (for SCRAM logins, which never reveal the token).
struct TokenRecord {
  std::string id;
  std::string grant_id;
  std::string lookup_hash;  // hex SHA-256 of the token
  int scram_iterations = 0;
  std::string scram_salt;        // raw
  std::string scram_stored_key;  // raw 32 bytes
  std::string scram_server_key;  // raw 32 bytes
  TimeMs created_at = 0;
};

struct LiveToken {
  TokenRecord token;
  GrantRecord grant;
};

// An API key for a service agent: `slk_...`, stored only as a lookup hash, bound to roles.
struct ApiKeyRecord {
  std::string id;
  std::string identity;
  std::vector<std::string> roles;
  std::string lookup_hash;  // hex SHA-256 of the key
  std::string created_by;
  TimeMs created_at = 0;
  TimeMs expires_at = 0;  // 0: does not expire
  TimeMs revoked_at = 0;
  std::string revoked_by;
  bool usable(TimeMs now) const { return revoked_at == 0 && (expires_at == 0 || now < expires_at); }
};

struct SessionRecord {
  std::string id;
  std::string node;
  std::string grant_id;
  std::string identity;
  std::string connection;
  std::string protocol;
  std::string client_address;
  std::string application;
  bool tls = false;
  TimeMs started_at = 0;
  TimeMs ended_at = 0;  // 0 while live
  std::string end_reason;
};

// One entry of the change feed: something live sessions may have to act on.
struct Change {
  std::int64_t seq = 0;
  std::string kind;     // e.g. "grant.revoked"
  std::string subject;  // e.g. the grant id
  TimeMs at = 0;
};

namespace change_kind {
inline constexpr std::string_view kGrantRevoked = "grant.revoked";
inline constexpr std::string_view kGrantApproved = "grant.approved";
inline constexpr std::string_view kGrantDenied = "grant.denied";
inline constexpr std::string_view kGrantRequested = "grant.requested";
inline constexpr std::string_view kApiKeyRevoked = "apikey.revoked";
}  // namespace change_kind

}  // namespace sluice::store
