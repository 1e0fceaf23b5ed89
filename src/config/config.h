// Sluice configuration: the YAML schema of DESIGN.md, loaded and validated in one place.
//
// load_config() reads the file, resolves secret references (${env:VAR}, ${file:PATH}) and
// checks every key. Errors name the file, line and key, and say what was expected; they never
// contain a secret's value. Unknown keys are errors, so a typo does not silently turn a
// setting off. The result is an immutable value passed to whoever needs a part of it; nothing
// reaches configuration through globals. Every key is documented in docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/secret.h"
#include "core/status.h"

namespace sluice::policy {
struct Policy;
struct Roles;
}  // namespace sluice::policy

namespace sluice::config {

using Duration = std::chrono::milliseconds;

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

enum class UpstreamTls : std::uint8_t { disable, prefer, require, verify_full };
std::string_view to_string(UpstreamTls mode);

struct PostgresUpstream {
  std::string host;
  std::uint16_t port = 5432;
  std::string database;
  std::string user;
  Secret password;
  UpstreamTls tls = UpstreamTls::verify_full;
  std::string ca_file;      // empty: the system's trust store
  std::string server_name;  // name to verify; empty: host
  // Pinned for every session; the analyzer resolves unqualified names with it.
  std::vector<std::string> search_path{"public"};
};

enum class ConnectionType : std::uint8_t { postgres, snowflake, mysql };

struct Connection {
  std::string name;
  ConnectionType type = ConnectionType::postgres;
  PostgresUpstream postgres;
};

struct ClientTls {
  std::string cert_file;
  std::string key_file;
  bool require = false;  // refuse clients that do not negotiate TLS
  // Ask TLS clients for the token as a cleartext password instead of SCRAM (for clients
  // without SCRAM). Never used on connections without TLS.
  bool allow_cleartext_password = false;
  bool enabled() const { return !cert_file.empty(); }
};

struct Limits {
  std::uint32_t startup_packet_bytes = 10000;  // PostgreSQL's own MAX_STARTUP_PACKET_LENGTH
  std::uint32_t max_message_bytes = 16u << 20;
  Duration handshake_timeout{10'000};
  Duration idle_in_transaction_timeout{300'000};
  Duration upstream_connect_timeout{5'000};
  Duration drain_timeout{30'000};
  std::uint32_t max_sessions = 10000;
  std::uint32_t auth_failures_per_minute = 20;  // per client address
  Duration statement_timeout{60'000};           // 0: none; set upstream and enforced by the gateway
  Duration catalog_refresh{60'000};             // how often each connection's catalog is re-read
};

// An OpenID provider whose JWT access tokens the admin API accepts.
struct OidcIssuer {
  std::string issuer;                   // exact `iss`; discovery at <issuer>/.well-known/...
  std::string audience;                 // required in `aud`
  std::vector<std::string> algorithms;  // pinned: RS256, ES256, EdDSA
  std::string groups_claim = "groups";
  std::string identity_claim = "sub";
  std::string identity_prefix;  // prepended to the identity (separates issuers)
  Duration clock_skew{60'000};
  Duration jwks_min_refresh{30'000};  // least time between refreshes for an unknown kid
  Duration jwks_max_age{3'600'000};   // the JWKS is re-fetched when older
  std::uint32_t max_token_bytes = 16384;
  Duration max_token_lifetime{86'400'000};
  std::string ca_file;  // for https; empty: the system's trust store
};

struct IdentityConfig {
  std::vector<OidcIssuer> oidc;
};

// The session recording (docs/design/audit_log_format.md).
struct AuditConfig {
  enum class Durability : std::uint8_t { fsync, batch, none };
  bool enabled = true;
  std::filesystem::path dir;  // default: <data_dir>/audit
  Durability durability = Durability::fsync;
  Duration batch_interval{10};
  std::uint64_t segment_bytes = 64ull << 20;
  Duration checkpoint_interval{1000};
  std::uint64_t retention_bytes = 0;     // 0: keep everything
  Secret signing_key;                    // empty: generated under data_dir (development)
  std::vector<std::string> verify_keys;  // retired public keys, "<key id> <base64>"
  std::uint64_t result_rows = 1000;      // rows of each result kept in the record
  std::uint64_t result_bytes = 1ull << 20;
};

struct StateConfig {
  enum class Backend : std::uint8_t { sqlite, postgres };
  Backend backend = Backend::sqlite;
  Secret url;  // postgres backend
};

struct Config {
  std::filesystem::path source;  // the file this came from
  std::filesystem::path data_dir;
  int node_id = 1;
  int workers = 0;  // 0: one per core
  // How long a worker polls without blocking after its last work (net/run_loop.h); 0: off.
  std::chrono::microseconds busy_poll{0};
  std::string log_level = "info";
  StateConfig state;
  std::optional<Endpoint> listen_postgres;
  std::optional<Endpoint> listen_admin;
  std::optional<Endpoint> listen_snowflake;
  ClientTls tls;
  Limits limits;
  std::vector<Connection> connections;
  IdentityConfig identity;
  AuditConfig audit;
  std::shared_ptr<const policy::Policy> policy;  // never null after loading
  std::shared_ptr<const policy::Roles> roles;    // never null after loading

  const Connection* find_connection(std::string_view name) const;
};

Result<Config> load_config(const std::filesystem::path& path);
// Parses YAML text; `source` names it in errors and anchors relative paths.
Result<Config> parse_config(std::string_view yaml, const std::filesystem::path& source);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

// "15m", "90s", "500ms", "2h", "1d". Exposed for the CLI's --ttl.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace sluice::config
