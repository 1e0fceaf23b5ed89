#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "config/yaml_reader.h"
#include "policy/roles.h"
#include "policy/rules.h"

namespace sluice::config {
namespace {

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

void read_postgres_upstream(Reader& r, const YAML::Node& n, const std::string& path,
                            PostgresUpstream& u) {
  if (!r.is_map(n, path)) return;
  r.only_keys(n, path,
              {"host", "port", "database", "user", "password", "tls", "ca_file", "server_name",
               "search_path"});
  if (!n["host"]) r.fail(n, path, "missing required key 'host'");
  if (!n["database"]) r.fail(n, path, "missing required key 'database'");
  if (!n["user"]) r.fail(n, path, "missing required key 'user'");
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>("");
    std::string kp = Reader::join(path, key);
    const YAML::Node& v = kv.second;
    if (key == "host") {
      if (auto s = r.string(v, kp)) u.host = *s;
    } else if (key == "port") {
      if (auto i = r.integer(v, kp, 1, 65535)) u.port = static_cast<std::uint16_t>(*i);
    } else if (key == "database") {
      if (auto s = r.string(v, kp)) u.database = *s;
    } else if (key == "user") {
      if (auto s = r.string(v, kp)) u.user = *s;
    } else if (key == "password") {
      if (auto s = r.secret(v, kp)) u.password = std::move(*s);
    } else if (key == "tls") {
      auto s = r.string(v, kp);
      if (!s) continue;
      if (*s == "disable")
        u.tls = UpstreamTls::disable;
      else if (*s == "prefer")
        u.tls = UpstreamTls::prefer;
      else if (*s == "require")
        u.tls = UpstreamTls::require;
      else if (*s == "verify-full")
        u.tls = UpstreamTls::verify_full;
      else
        r.fail(v, kp, "expected disable, prefer, require or verify-full, got '" + *s + "'");
    } else if (key == "ca_file") {
      if (auto s = r.string(v, kp)) u.ca_file = r.resolve(*s).string();
    } else if (key == "server_name") {
      if (auto s = r.string(v, kp)) u.server_name = *s;
    } else if (key == "search_path") {
      if (auto l = r.string_list(v, kp)) {
        if (l->empty()) r.fail(v, kp, "expected at least one schema");
        for (const auto& schema : *l)
          if (schema.empty() || schema.find_first_of("\",\\") != std::string::npos ||
              schema[0] == '$')
            r.fail(v, kp, "'" + schema + "' is not a schema name the gateway can pin");
        u.search_path = *l;
      }
    }
  }
}

bool loopback_url(std::string_view url) {
  for (std::string_view p :
       {"http://127.", "http://localhost:", "http://localhost/", "http://[::1]"})
    if (url.substr(0, p.size()) == p) return true;
  return url == "http://localhost";
}

void read_identity(Reader& r, const YAML::Node& n, IdentityConfig& id) {
  if (!r.is_map(n, "identity")) return;
  r.only_keys(n, "identity", {"oidc"});
  const YAML::Node& list = n["oidc"];
  if (!list) return;
  if (!list.IsSequence()) {
    r.fail(list, "identity.oidc", "expected a list of OpenID providers");
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& m = list[i];
    std::string path = "identity.oidc[" + std::to_string(i) + "]";
    if (!r.is_map(m, path)) continue;
    r.only_keys(m, path,
                {"issuer", "audience", "algorithms", "groups_claim", "identity_claim",
                 "identity_prefix", "clock_skew", "jwks_min_refresh", "jwks_max_age",
                 "max_token_bytes", "max_token_lifetime", "ca_file"});
    OidcIssuer o;
    if (!m["issuer"]) r.fail(m, path, "missing required key 'issuer'");
    if (!m["audience"]) r.fail(m, path, "missing required key 'audience'");
    if (!m["algorithms"])
      r.fail(m, path, "missing required key 'algorithms' (pin them: RS256, ES256, EdDSA)");
    if (m["issuer"])
      if (auto s = r.string(m["issuer"], path + ".issuer")) {
        o.issuer = *s;
        if (o.issuer.rfind("https://", 0) != 0 && !loopback_url(o.issuer))
          r.fail(m["issuer"], path + ".issuer",
                 "expected an https:// URL (plain http only to a loopback address)");
        for (const auto& other : id.oidc)
          if (other.issuer == o.issuer)
            r.fail(m["issuer"], path + ".issuer", "this issuer is configured twice");
      }
    if (m["audience"])
      if (auto s = r.string(m["audience"], path + ".audience")) o.audience = *s;
    if (m["algorithms"])
      if (auto l = r.string_list(m["algorithms"], path + ".algorithms")) {
        for (const auto& a : *l)
          if (a != "RS256" && a != "ES256" && a != "EdDSA")
            r.fail(m["algorithms"], path + ".algorithms",
                   "'" + a + "' is not supported; expected RS256, ES256 or EdDSA");
        if (l->empty()) r.fail(m["algorithms"], path + ".algorithms", "pin at least one");
        o.algorithms = *l;
      }
    if (m["groups_claim"])
      if (auto s = r.string(m["groups_claim"], path + ".groups_claim")) o.groups_claim = *s;
    if (m["identity_claim"])
      if (auto s = r.string(m["identity_claim"], path + ".identity_claim")) o.identity_claim = *s;
    if (m["identity_prefix"])
      if (auto s = r.string(m["identity_prefix"], path + ".identity_prefix"))
        o.identity_prefix = *s;
    if (m["clock_skew"])
      if (auto d = r.duration(m["clock_skew"], path + ".clock_skew")) o.clock_skew = *d;
    if (m["jwks_min_refresh"])
      if (auto d = r.duration(m["jwks_min_refresh"], path + ".jwks_min_refresh"))
        o.jwks_min_refresh = *d;
    if (m["jwks_max_age"])
      if (auto d = r.duration(m["jwks_max_age"], path + ".jwks_max_age")) o.jwks_max_age = *d;
    if (m["max_token_bytes"])
      if (auto v = r.size(m["max_token_bytes"], path + ".max_token_bytes")) o.max_token_bytes = *v;
    if (m["max_token_lifetime"])
      if (auto d = r.duration(m["max_token_lifetime"], path + ".max_token_lifetime"))
        o.max_token_lifetime = *d;
    if (m["ca_file"])
      if (auto s = r.string(m["ca_file"], path + ".ca_file")) o.ca_file = r.resolve(*s).string();
    id.oidc.push_back(std::move(o));
  }
  // Identities and groups from different providers must not meet in one namespace: alice at
  // one provider is not alice at another, nor a member of its "dba" group.
  if (id.oidc.size() > 1)
    for (std::size_t i = 0; i < id.oidc.size(); ++i) {
      const auto& p = id.oidc[i].identity_prefix;
      std::string path = "identity.oidc[" + std::to_string(i) + "].identity_prefix";
      if (p.empty())
        r.fail(list[i], path,
               "required when several issuers are configured (e.g. \"okta:\"); it keeps their "
               "identities and groups apart");
      for (std::size_t j = 0; j < i; ++j)
        if (!p.empty() && (id.oidc[j].identity_prefix.rfind(p, 0) == 0 ||
                           p.rfind(id.oidc[j].identity_prefix, 0) == 0))
          r.fail(list[i], path, "overlaps the prefix of identity.oidc[" + std::to_string(j) + "]");
    }
}

void read_connections(Reader& r, const YAML::Node& n, Config& c) {
  if (!n.IsSequence()) {
    r.fail(n, "connections", "expected a list of connections");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node& item = n[i];
    std::string path = "connections[" + std::to_string(i) + "]";
    if (!r.is_map(item, path)) continue;
    r.only_keys(item, path, {"name", "type", "upstream"});
    Connection conn;
    if (!item["name"]) {
      r.fail(item, path, "missing required key 'name'");
    } else if (auto s = r.string(item["name"], path + ".name")) {
      if (!valid_name(*s))
        r.fail(item["name"], path + ".name",
               "expected 1-63 letters, digits, '_' or '-' (clients send it as the database "
               "name), got '" +
                   *s + "'");
      else if (c.find_connection(*s))
        r.fail(item["name"], path + ".name", "a connection named '" + *s + "' already exists");
      conn.name = *s;
    }
    std::string type = "postgres";
    if (item["type"]) type = r.string(item["type"], path + ".type").value_or("postgres");
    if (type == "postgres") {
      conn.type = ConnectionType::postgres;
      if (!item["upstream"])
        r.fail(item, path, "missing required key 'upstream'");
      else
        read_postgres_upstream(r, item["upstream"], path + ".upstream", conn.postgres);
    } else if (type == "snowflake" || type == "mysql") {
      r.fail(item["type"], path + ".type",
             "connections of type '" + type + "' are not supported by this build yet");
    } else {
      r.fail(item["type"], path + ".type",
             "expected postgres, snowflake or mysql, got '" + type + "'");
    }
    c.connections.push_back(std::move(conn));
  }
}

void read_audit(Reader& r, const YAML::Node& n, AuditConfig& a) {
  if (!r.is_map(n, "audit")) return;
  r.only_keys(
      n, "audit",
      {"enabled", "dir", "durability", "batch_interval", "segment_size", "checkpoint_interval",
       "retention_bytes", "signing_key", "verify_keys", "result_rows", "result_bytes"});
  if (n["enabled"]) a.enabled = r.boolean(n["enabled"], "audit.enabled").value_or(true);
  if (n["dir"])
    if (auto s = r.string(n["dir"], "audit.dir")) a.dir = r.resolve(*s);
  if (n["durability"])
    if (auto s = r.string(n["durability"], "audit.durability")) {
      if (*s == "fsync")
        a.durability = AuditConfig::Durability::fsync;
      else if (*s == "batch")
        a.durability = AuditConfig::Durability::batch;
      else if (*s == "none")
        a.durability = AuditConfig::Durability::none;
      else
        r.fail(n["durability"], "audit.durability", "expected fsync, batch or none");
    }
  if (n["batch_interval"])
    if (auto d = r.duration(n["batch_interval"], "audit.batch_interval")) a.batch_interval = *d;
  if (n["segment_size"])
    if (auto v = r.size(n["segment_size"], "audit.segment_size")) {
      a.segment_bytes = *v;
      if (*v < 64 * 1024) r.fail(n["segment_size"], "audit.segment_size", "at least 64KiB");
    }
  if (n["checkpoint_interval"])
    if (auto d = r.duration(n["checkpoint_interval"], "audit.checkpoint_interval"))
      a.checkpoint_interval = *d;
  if (n["retention_bytes"])
    if (auto v = r.integer(n["retention_bytes"], "audit.retention_bytes", 0, INT64_MAX))
      a.retention_bytes = static_cast<std::uint64_t>(*v);
  if (n["signing_key"])
    if (auto s = r.secret(n["signing_key"], "audit.signing_key")) a.signing_key = std::move(*s);
  if (n["verify_keys"])
    if (auto l = r.string_list(n["verify_keys"], "audit.verify_keys")) a.verify_keys = *l;
  if (n["result_rows"])
    if (auto v = r.integer(n["result_rows"], "audit.result_rows", 0, 1'000'000))
      a.result_rows = static_cast<std::uint64_t>(*v);
  if (n["result_bytes"])
    if (auto v = r.size(n["result_bytes"], "audit.result_bytes")) a.result_bytes = *v;
}

void read_limits(Reader& r, const YAML::Node& n, Limits& l) {
  if (!r.is_map(n, "limits")) return;
  r.only_keys(n, "limits",
              {"startup_packet_bytes", "max_message_bytes", "handshake_timeout",
               "idle_in_transaction_timeout", "upstream_connect_timeout", "drain_timeout",
               "max_sessions", "auth_failures_per_minute", "statement_timeout", "catalog_refresh"});
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>("");
    std::string kp = "limits." + key;
    const YAML::Node& v = kv.second;
    if (key == "startup_packet_bytes") {
      if (auto s = r.size(v, kp)) {
        if (*s < 64 || *s > 65536)
          r.fail(v, kp, "expected 64 to 65536 bytes");
        else
          l.startup_packet_bytes = *s;
      }
    } else if (key == "max_message_bytes") {
      if (auto s = r.size(v, kp)) {
        if (*s < 4096)
          r.fail(v, kp, "expected at least 4096 bytes");
        else
          l.max_message_bytes = *s;
      }
    } else if (key == "handshake_timeout") {
      if (auto d = r.duration(v, kp)) l.handshake_timeout = *d;
    } else if (key == "idle_in_transaction_timeout") {
      if (auto d = r.duration(v, kp)) l.idle_in_transaction_timeout = *d;
    } else if (key == "upstream_connect_timeout") {
      if (auto d = r.duration(v, kp)) l.upstream_connect_timeout = *d;
    } else if (key == "drain_timeout") {
      if (auto d = r.duration(v, kp)) l.drain_timeout = *d;
    } else if (key == "statement_timeout") {
      if (auto d = r.duration(v, kp)) l.statement_timeout = *d;
    } else if (key == "catalog_refresh") {
      if (auto d = r.duration(v, kp)) {
        if (d->count() < 1000)
          r.fail(v, kp, "expected at least 1s");
        else
          l.catalog_refresh = *d;
      }
    } else if (key == "max_sessions") {
      if (auto i = r.integer(v, kp, 1, 1'000'000)) l.max_sessions = static_cast<std::uint32_t>(*i);
    } else if (key == "auth_failures_per_minute") {
      if (auto i = r.integer(v, kp, 1, 1'000'000))
        l.auth_failures_per_minute = static_cast<std::uint32_t>(*i);
    }
  }
}

}  // namespace

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view to_string(UpstreamTls mode) {
  switch (mode) {
    case UpstreamTls::disable:
      return "disable";
    case UpstreamTls::prefer:
      return "prefer";
    case UpstreamTls::require:
      return "require";
    case UpstreamTls::verify_full:
      return "verify-full";
  }
  return "?";
}

bool is_loopback_host(std::string_view h) {
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  if (h.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char ch : h.substr(4)) {
    if (ch == '.') {
      ++dots;
    } else if (ch < '0' || ch > '9') {
      return false;
    }
  }
  return dots == 2;
}

const Connection* Config::find_connection(std::string_view name) const {
  for (const auto& c : connections)
    if (c.name == name) return &c;
  return nullptr;
}

std::optional<Duration> parse_duration(std::string_view s) {
  std::int64_t total = 0;
  if (s.empty()) return std::nullopt;
  while (!s.empty()) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || v < 0) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(end - s.data()));
    std::int64_t unit;
    if (s.substr(0, 2) == "ms") {
      unit = 1;
      s.remove_prefix(2);
    } else if (!s.empty() && s[0] == 's') {
      unit = 1000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'm') {
      unit = 60'000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'h') {
      unit = 3'600'000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'd') {
      unit = 86'400'000;
      s.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    if (v > (std::int64_t{1} << 40) / unit) return std::nullopt;
    total += v * unit;
  }
  return Duration(total);
}

Result<Config> parse_config(std::string_view yaml, const std::filesystem::path& source) {
  Reader r(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return error(Code::invalid_argument, source.string() + ":" + std::to_string(e.mark.line + 1) +
                                             ":" + std::to_string(e.mark.column + 1) +
                                             ": not valid YAML: " + e.msg);
  }
  Config c;
  c.source = source;
  c.data_dir = r.resolve("sluice-data");
  if (!root.IsMap()) {
    return error(Code::invalid_argument, source.string() +
                                             ": expected a YAML mapping at the top level (see "
                                             "docs/configuration.md)");
  }
  r.only_keys(root, "",
              {"data_dir", "node_id", "workers", "busy_poll_us", "log", "state", "listen", "tls",
               "limits", "connections", "identity", "roles", "rules", "default_action", "masking",
               "audit", "approvals"});
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>("");
      const YAML::Node& v = kv.second;
      if (key == "data_dir") {
        if (auto s = r.string(v, key)) c.data_dir = r.resolve(*s);
      } else if (key == "node_id") {
        if (auto i = r.integer(v, key, 0, 255)) c.node_id = static_cast<int>(*i);
      } else if (key == "workers") {
        if (auto i = r.integer(v, key, 0, 256)) c.workers = static_cast<int>(*i);
      } else if (key == "busy_poll_us") {
        if (auto i = r.integer(v, key, 0, 1000)) c.busy_poll = std::chrono::microseconds(*i);
      } else if (key == "log") {
        if (!r.is_map(v, key)) continue;
        r.only_keys(v, key, {"level"});
        if (v["level"]) {
          auto s = r.string(v["level"], "log.level");
          if (s && *s != "debug" && *s != "info" && *s != "warn" && *s != "error")
            r.fail(v["level"], "log.level", "expected debug, info, warn or error");
          else if (s)
            c.log_level = *s;
        }
      } else if (key == "state") {
        if (!r.is_map(v, key)) continue;
        r.only_keys(v, key, {"backend", "url"});
        std::string backend =
            v["backend"] ? r.string(v["backend"], "state.backend").value_or("") : "sqlite";
        if (backend == "sqlite") {
          c.state.backend = StateConfig::Backend::sqlite;
        } else if (backend == "postgres") {
          r.fail(v["backend"], "state.backend",
                 "the postgres state backend is not supported by this build yet; use sqlite");
        } else {
          r.fail(v["backend"], "state.backend", "expected sqlite or postgres");
        }
      } else if (key == "listen") {
        if (!r.is_map(v, key)) continue;
        r.only_keys(v, key, {"postgres", "admin", "snowflake", "mysql"});
        if (v["postgres"]) c.listen_postgres = r.endpoint(v["postgres"], "listen.postgres");
        if (v["admin"]) c.listen_admin = r.endpoint(v["admin"], "listen.admin");
        if (v["snowflake"])
          r.fail(v["snowflake"], "listen.snowflake", "not supported by this build yet");
        if (v["mysql"]) r.fail(v["mysql"], "listen.mysql", "not supported by this build yet");
      } else if (key == "tls") {
        if (!r.is_map(v, key)) continue;
        r.only_keys(v, key, {"cert", "key", "require", "allow_cleartext_password"});
        if (v["cert"]) {
          if (auto s = r.string(v["cert"], "tls.cert")) c.tls.cert_file = r.resolve(*s).string();
        }
        if (v["key"]) {
          if (auto s = r.string(v["key"], "tls.key")) c.tls.key_file = r.resolve(*s).string();
        }
        if (v["require"]) c.tls.require = r.boolean(v["require"], "tls.require").value_or(false);
        if (v["allow_cleartext_password"])
          c.tls.allow_cleartext_password =
              r.boolean(v["allow_cleartext_password"], "tls.allow_cleartext_password")
                  .value_or(false);
        if (c.tls.cert_file.empty() != c.tls.key_file.empty())
          r.fail(v, "tls", "set both 'cert' and 'key', or neither");
        if (c.tls.require && c.tls.cert_file.empty())
          r.fail(v, "tls.require", "requiring TLS needs 'cert' and 'key'");
      } else if (key == "limits") {
        read_limits(r, v, c.limits);
      } else if (key == "connections") {
        read_connections(r, v, c);
      } else if (key == "rules" || key == "default_action" || key == "roles") {
        // Read below, together.
      } else if (key == "identity") {
        read_identity(r, v, c.identity);
      } else if (key == "audit") {
        read_audit(r, v, c.audit);
      } else if (key == "masking" || key == "approvals") {
        // Refuse rather than ignore: a configuration that asks for masking or rules must not
        // run without them.
        r.fail(kv.first, key, "not supported by this build yet; remove it or upgrade Sluice");
      }
    }
    if (c.audit.dir.empty()) c.audit.dir = c.data_dir / "audit";
    auto roles = std::make_shared<policy::Roles>(policy::read_roles(r, root["roles"]));
    auto pol = std::make_shared<policy::Policy>(
        policy::read_policy(r, root["rules"], root["default_action"]));
    for (const auto& role : roles->list) {
      if (role.default_action) pol->role_defaults.emplace_back(role.name, *role.default_action);
      for (const auto& conn : role.connections)
        if (conn.find('*') == std::string::npos && !c.find_connection(conn))
          r.fail(root["roles"], "roles." + role.name + ".connections",
                 "there is no connection named '" + conn + "'");
    }
    c.roles = std::move(roles);
    c.policy = std::move(pol);
  } catch (const YAML::Exception& e) {
    r.fail_top(std::string("unexpected YAML structure: ") + e.what());
  }
  if (!c.policy) c.policy = std::make_shared<const policy::Policy>();
  if (!c.roles) c.roles = std::make_shared<const policy::Roles>();
  if (c.listen_admin && !c.tls.enabled() && !is_loopback_host(c.listen_admin->host))
    r.fail(root["listen"]["admin"], "listen.admin",
           "the admin API carries credentials: off a loopback address it needs tls.cert and "
           "tls.key");
  if (!c.listen_postgres && r.ok())
    r.fail_top("listen.postgres is required (for example listen: {postgres: 127.0.0.1:15432})");
  if (!r.ok()) return error(Code::invalid_argument, r.joined());
  return c;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error(Code::not_found, path.string() +
                                      ": cannot read the configuration file (pass it "
                                      "with -c FILE)");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return parse_config(text, ec ? path : abs);
}

}  // namespace sluice::config
