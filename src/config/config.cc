#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace sluice::config {
namespace {

// Walks the YAML tree, collecting every error with its line and key path.
class Reader {
 public:
  explicit Reader(std::filesystem::path source) : source_(std::move(source)) {}

  void fail(const YAML::Node& at, const std::string& path, const std::string& what) {
    std::ostringstream out;
    out << source_.string();
    if (at.IsDefined() && at.Mark().line >= 0)
      out << ":" << at.Mark().line + 1 << ":" << at.Mark().column + 1;
    out << ": " << path << ": " << what;
    errors_.push_back(out.str());
  }
  void fail_top(const std::string& what) { errors_.push_back(source_.string() + ": " + what); }

  bool ok() const { return errors_.empty(); }
  std::string joined() const {
    std::string s;
    for (const auto& e : errors_) s += (s.empty() ? "" : "\n") + e;
    return s;
  }

  // Reports keys of `map` that are not in `allowed`.
  void only_keys(const YAML::Node& map, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(kv.first, join(path, key), "unknown key; expected one of: " + list);
      }
    }
  }

  bool is_map(const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) return true;
    fail(n, path, "expected a mapping of keys to values");
    return false;
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      fail(n, path, "expected a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<std::int64_t> integer(const YAML::Node& n, const std::string& path, std::int64_t lo,
                                      std::int64_t hi) {
    std::int64_t v = 0;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc{} && end == s.data() + s.size() && v >= lo && v <= hi) return v;
    }
    fail(n, path,
         "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
             ", got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true") return true;
      if (s == "false") return false;
    }
    fail(n, path, "expected true or false, got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<Duration> duration(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (auto d = parse_duration(n.Scalar())) return d;
    }
    fail(n, path,
         "expected a duration such as 500ms, 30s, 15m, 2h or 1d, got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<std::uint32_t> size(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      std::uint64_t mult = 1;
      for (auto [suffix, m] :
           {std::pair{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}) {
        std::string_view sv(s);
        if (sv.size() > 3 && sv.substr(sv.size() - 3) == suffix) {
          mult = m;
          s.resize(s.size() - 3);
          break;
        }
      }
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc{} && end == s.data() + s.size() && v > 0 && v * mult <= (1ull << 30))
        return static_cast<std::uint32_t>(v * mult);
    }
    fail(n, path,
         "expected a size in bytes up to 1GiB, such as 10000, 64KiB or 16MiB, got '" +
             scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<Endpoint> endpoint(const YAML::Node& n, const std::string& path) {
    auto s = string(n, path);
    if (!s) return std::nullopt;
    auto colon = s->rfind(':');
    Endpoint e;
    int port = 0;
    if (colon != std::string::npos && colon > 0) {
      e.host = s->substr(0, colon);
      if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']')
        e.host = e.host.substr(1, e.host.size() - 2);
      auto ps = std::string_view(*s).substr(colon + 1);
      auto [end, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
      if (ec == std::errc{} && end == ps.data() + ps.size() && port >= 0 && port <= 65535) {
        e.port = static_cast<std::uint16_t>(port);
        return e;
      }
    }
    fail(n, path, "expected host:port such as 127.0.0.1:15432, got '" + *s + "'");
    return std::nullopt;
  }

  // ${env:VAR} or ${file:PATH}; anything else is taken literally.
  std::optional<Secret> secret(const YAML::Node& n, const std::string& path) {
    auto s = string(n, path);
    if (!s) return std::nullopt;
    std::string_view v(*s);
    if (v.size() > 3 && v.substr(0, 2) == "${" && v.back() == '}') {
      std::string_view ref = v.substr(2, v.size() - 3);
      if (ref.substr(0, 4) == "env:") {
        std::string var(ref.substr(4));
        const char* value = std::getenv(var.c_str());
        if (value == nullptr) {
          fail(n, path, "environment variable " + var + " is not set");
          return std::nullopt;
        }
        return Secret(value);
      }
      if (ref.substr(0, 5) == "file:") {
        std::filesystem::path p = resolve(std::string(ref.substr(5)));
        std::ifstream in(p, std::ios::binary);
        if (!in) {
          fail(n, path, "cannot read secret file " + p.string());
          return std::nullopt;
        }
        std::string content((std::istreambuf_iterator<char>(in)), {});
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
          content.pop_back();
        return Secret(std::move(content));
      }
      fail(n, path, "unknown secret reference; use ${env:VAR} or ${file:PATH}");
      return std::nullopt;
    }
    return Secret(*s);
  }

  std::filesystem::path resolve(const std::string& p) const {
    std::filesystem::path path(p);
    if (path.is_absolute()) return path;
    return (source_.parent_path() / path).lexically_normal();
  }

  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

 private:
  static std::string scalar_text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    return "nothing";
  }

  std::filesystem::path source_;
  std::vector<std::string> errors_;
};

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
              {"host", "port", "database", "user", "password", "tls", "ca_file", "server_name"});
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
    }
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

void read_limits(Reader& r, const YAML::Node& n, Limits& l) {
  if (!r.is_map(n, "limits")) return;
  r.only_keys(n, "limits",
              {"startup_packet_bytes", "max_message_bytes", "handshake_timeout",
               "idle_in_transaction_timeout", "upstream_connect_timeout", "drain_timeout",
               "max_sessions", "auth_failures_per_minute"});
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
              {"data_dir", "node_id", "workers", "log", "state", "listen", "tls", "limits",
               "connections", "identity", "roles", "rules", "masking", "audit", "approvals"});
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
      } else if (key == "identity" || key == "roles" || key == "rules" || key == "masking" ||
                 key == "audit" || key == "approvals") {
        // Refuse rather than ignore: a configuration that asks for masking or rules must not
        // run without them.
        r.fail(kv.first, key, "not supported by this build yet; remove it or upgrade Sluice");
      }
    }
  } catch (const YAML::Exception& e) {
    r.fail_top(std::string("unexpected YAML structure: ") + e.what());
  }
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
