// Roles: who may ask for which access, what is approved at once, and who reviews the rest.
//
// A role matches principals by identity (globs) or group (from the OIDC groups claim); an API
// key is bound to role names instead. A request for a grant names a connection, a window and
// a scope; the first role the principal holds that allows all of it decides the request
// (decide_request). A role also gives the policy its `default` for sessions of its grants.
// Pure and deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_reader.h"
#include "policy/rules.h"

namespace sluice::policy {

// Who is asking or reviewing, once authenticated.
struct Principal {
  enum class Kind : std::uint8_t { oidc, api_key, local };
  Kind kind = Kind::local;
  std::string identity;
  std::vector<std::string> groups;       // from the identity provider
  std::vector<std::string> bound_roles;  // API keys: the roles the key was created for
  std::string issuer;                    // OIDC issuer, or "api-key", or "local"
  std::string credential_id;             // API key id
};

struct Who {
  std::vector<std::string> identities;  // globs
  std::vector<std::string> groups;      // globs
  bool empty() const { return identities.empty() && groups.empty(); }
  bool matches(const Principal& p) const;
};

struct AutoApprove {
  bool enabled = false;
  bool read_only = true;            // access: read
  std::int64_t max_ttl_ms = 0;      // 0: the role's max_ttl
  std::vector<std::string> tables;  // when set, the request must name tables within these
};

struct Role {
  std::string name;
  Who match;
  std::vector<std::string> connections;  // globs; required
  std::int64_t max_ttl_ms = 3600'000;
  bool allow_write = false;         // access the role may ask for: read, or write too
  std::vector<std::string> tables;  // scope the requests must stay within; empty: any
  std::vector<std::string> columns;
  int max_sessions = 0;  // per grant; 0: no cap
  AutoApprove auto_approve;
  Who reviewers;
  // For sessions of this role's grants when no rule decides; unset: the top-level
  // default_action.
  std::optional<Action> default_action;
};

struct Roles {
  std::vector<Role> list;
  const Role* find(std::string_view name) const;
};

// What a principal asks for.
struct AccessRequest {
  std::string connection;
  std::int64_t ttl_ms = 0;
  bool write = false;
  std::vector<std::string> tables;
  std::vector<std::string> columns;
  std::string role;  // optional: the role to ask under
};

struct RequestDecision {
  enum class Outcome : std::uint8_t { approve, review, deny };
  Outcome outcome = Outcome::deny;
  const Role* role = nullptr;
  std::string reason;  // why denied, or why it needs review
};

// The principal's roles that allow the request, first match wins; auto-approval when that
// role's auto_approve holds. Denied with a reason naming what no role allows.
RequestDecision decide_request(const Roles& roles, const Principal& who, const AccessRequest& r);

// Whether `who` holds `role` (identity/group match, or an API key bound to it).
bool holds(const Role& role, const Principal& who);
// Whether `who` may decide requests made under `role`. Nobody decides their own request;
// the caller checks that separately (it knows the requester).
bool can_review(const Role& role, const Principal& who);

Roles read_roles(config::Reader& r, const YAML::Node& n);

}  // namespace sluice::policy
