#include "app/cli.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "app/gateway.h"
#include "config/config.h"
#include "core/log.h"
#include "core/time.h"
#include "core/version.h"
#include "identity/grant_service.h"
#include "net/tls.h"
#include "policy/policy_stage.h"
#include "policy/rules.h"
#include "session/pg/catalog_loader.h"
#include "sql/pg_analyzer.h"
#include "store/state_store.h"

namespace sluice::app {
namespace {

namespace json = boost::json;

constexpr const char* kUsage = R"(sluice: an access gateway between agents and databases

usage:
  sluice serve -c sluice.yaml
  sluice token issue -c sluice.yaml --identity NAME --connection CONN --ttl 15m
                     [--access read|write] [--tables a,b] [--columns a.b.c] [--role R]
                     [--reason TEXT] [--as APPROVER]
  sluice grants list -c sluice.yaml [--json] [--identity NAME] [--status S] [--live]
  sluice grants revoke -c sluice.yaml ID [--as NAME]
  sluice sessions list -c sluice.yaml [--json] [--live]
  sluice policy check -c sluice.yaml --identity NAME --connection CONN [--access read|write]
                      [--tables a,b] [--columns s.t.c] [--role R] [--live] --sql 'SQL'

  sluice --version

docs: README.md, docs/configuration.md, docs/design/
)";

// Flags (--name value, --name=value, -c value) and positional words.
struct Args {
  std::vector<std::string> words;
  std::map<std::string, std::string> flags;
  std::vector<std::string> errors;

  static Args parse(const std::vector<std::string>& in) {
    static const std::vector<std::string> kBoolean = {"json", "live", "help", "all", "version"};
    Args a;
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string& s = in[i];
      if (s == "-c") {
        if (i + 1 >= in.size())
          a.errors.push_back("-c needs a file");
        else
          a.flags["config"] = in[++i];
      } else if (s.rfind("--", 0) == 0 && s.size() > 2) {
        std::string name = s.substr(2), value;
        auto eq = name.find('=');
        if (eq != std::string::npos) {
          value = name.substr(eq + 1);
          name = name.substr(0, eq);
        } else if (std::find(kBoolean.begin(), kBoolean.end(), name) != kBoolean.end()) {
          value = "true";
        } else if (i + 1 < in.size()) {
          value = in[++i];
        } else {
          a.errors.push_back("--" + name + " needs a value");
        }
        a.flags[name] = value;
      } else {
        a.words.push_back(s);
      }
    }
    return a;
  }
  std::optional<std::string> get(const std::string& k) const {
    auto it = flags.find(k);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
  bool has(const std::string& k) const { return flags.count(k) > 0; }
};

int fail(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\n", message.c_str());
  return 2;
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    std::string part =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string local_actor(const Args& a) {
  if (auto as = a.get("as")) return *as;
  const char* user = std::getenv("USER");
  return std::string("local-admin:") + (user && *user ? user : "unknown");
}

Result<config::Config> load(const Args& a) {
  auto path = a.get("config");
  if (!path) return error(Code::invalid_argument, "missing -c sluice.yaml");
  return config::load_config(*path);
}

Result<std::unique_ptr<store::StateStore>> open_store(const config::Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return error(Code::io_error, "data_dir " + c.data_dir.string() + ": " + ec.message());
  return store::open_sqlite_store((c.data_dir / "state.db").string());
}

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object grant_json(const store::GrantRecord& g) {
  json::object o;
  o["id"] = g.id;
  o["status"] = std::string(store::to_string(g.status));
  o["identity"] = g.identity;
  o["connection"] = g.connection;
  o["access"] = g.access;
  o["tables"] = to_json(g.tables);
  o["columns"] = to_json(g.columns);
  o["role"] = g.role;
  o["reason"] = g.reason;
  o["requested_by"] = g.requested_by;
  o["decided_by"] = g.decided_by;
  o["created_at"] = format_utc(g.created_at);
  if (g.starts_at) o["starts_at"] = format_utc(g.starts_at);
  if (g.expires_at) o["expires_at"] = format_utc(g.expires_at);
  if (g.revoked_at) {
    o["revoked_at"] = format_utc(g.revoked_at);
    o["revoked_by"] = g.revoked_by;
  }
  o["live"] = g.live(now_ms());
  return o;
}

int cmd_serve(const Args& a) {
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  log::Level level;
  if (log::parse_level(cfg->log_level, level)) log::set_level(level);
  Gateway gw(std::move(*cfg));
  Status st = gw.start();
  if (!st.is_ok()) return fail(st.message());
  return gw.run();
}

int cmd_token_issue(const Args& a) {
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  identity::GrantRequest r;
  r.identity = a.get("identity").value_or("");
  r.connection = a.get("connection").value_or("");
  if (r.identity.empty()) return fail("token issue: --identity NAME is required");
  if (r.connection.empty()) return fail("token issue: --connection CONN is required");
  if (!cfg->find_connection(r.connection)) {
    std::string names;
    for (const auto& c : cfg->connections) names += (names.empty() ? "" : ", ") + c.name;
    return fail("token issue: no connection named '" + r.connection + "' in " +
                cfg->source.string() + " (configured: " + (names.empty() ? "none" : names) + ")");
  }
  auto ttl = config::parse_duration(a.get("ttl").value_or(""));
  if (!ttl || ttl->count() <= 0) return fail("token issue: --ttl DURATION is required (e.g. 15m)");
  r.ttl_ms = ttl->count();
  r.access = a.get("access").value_or("read");
  r.tables = split_csv(a.get("tables").value_or(""));
  r.columns = split_csv(a.get("columns").value_or(""));
  r.role = a.get("role").value_or("");
  r.reason = a.get("reason").value_or("");
  auto store = open_store(*cfg);
  if (!store) return fail(store.status().message());
  identity::GrantService grants(**store);
  auto issued = grants.issue_local(r, local_actor(a));
  if (!issued) return fail("token issue: " + issued.status().message());
  const auto& g = issued->grant;
  std::string listen = cfg->listen_postgres ? cfg->listen_postgres->to_string() : "HOST:PORT";
  std::printf("grant %s approved: %s may use connection %s (%s) until %s\n", g.id.c_str(),
              g.identity.c_str(), g.connection.c_str(), g.access.c_str(),
              format_utc(g.expires_at).c_str());
  std::printf("connect with postgresql://%s@%s/%s and this token as the password:\n",
              g.identity.c_str(), listen.c_str(), g.connection.c_str());
  std::printf("%s\n", issued->token.c_str());
  return 0;
}

int cmd_grants(const Args& a) {
  if (a.words.size() < 2) return fail("grants: expected list or revoke\n" + std::string(kUsage));
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  auto store = open_store(*cfg);
  if (!store) return fail(store.status().message());
  const std::string& verb = a.words[1];
  if (verb == "list") {
    store::GrantFilter f;
    f.identity = a.get("identity");
    if (auto s = a.get("status")) {
      f.status = store::parse_grant_status(*s);
      if (!f.status)
        return fail("grants list: --status must be pending, approved, denied or revoked");
    }
    f.live_only = a.has("live");
    auto list = (*store)->list_grants(f);
    if (!list) return fail(list.status().message());
    if (a.has("json")) {
      json::array arr;
      for (const auto& g : *list) arr.push_back(grant_json(g));
      std::cout << json::serialize(arr) << "\n";
      return 0;
    }
    std::printf("%-20s %-9s %-20s %-12s %-6s %-25s %s\n", "ID", "STATUS", "IDENTITY", "CONNECTION",
                "ACCESS", "EXPIRES", "SCOPE");
    for (const auto& g : *list) {
      std::string scope;
      for (const auto& t : g.tables) scope += (scope.empty() ? "" : ",") + t;
      std::string status(store::to_string(g.status));
      if (g.status == store::GrantStatus::approved && !g.live(now_ms())) status = "expired";
      std::printf("%-20s %-9s %-20s %-12s %-6s %-25s %s\n", g.id.c_str(), status.c_str(),
                  g.identity.c_str(), g.connection.c_str(), g.access.c_str(),
                  g.expires_at ? format_utc(g.expires_at).c_str() : "-",
                  scope.empty() ? "*" : scope.c_str());
    }
    return 0;
  }
  if (verb == "revoke") {
    if (a.words.size() < 3)
      return fail("grants revoke: expected a grant ID (see sluice grants list)");
    identity::GrantService grants(**store);
    auto g = grants.revoke(a.words[2], local_actor(a));
    if (!g) return fail("grants revoke: " + g.status().message());
    std::printf("grant %s revoked; its live sessions end within a second\n", g->id.c_str());
    return 0;
  }
  return fail("grants: unknown command '" + verb + "' (expected list or revoke)");
}

json::array strings(const std::vector<std::string>& v) {
  return to_json(v);
}

int cmd_policy(const Args& a) {
  if (a.words.size() < 2 || a.words[1] != "check") return fail("policy: expected check");
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  auto sql_text = a.get("sql");
  if (!sql_text) return fail("policy check: --sql 'SQL' is required");
  hook::SessionInfo session;
  session.identity = a.get("identity").value_or("");
  session.connection = a.get("connection").value_or("");
  if (session.identity.empty()) return fail("policy check: --identity NAME is required");
  const config::Connection* conn = cfg->find_connection(session.connection);
  if (!conn) return fail("policy check: --connection must name a configured connection");
  session.role = a.get("role").value_or("");
  std::string access = a.get("access").value_or("read");
  if (access != "read" && access != "write")
    return fail("policy check: --access must be read or write");
  session.scope.access =
      access == "write" ? hook::GrantScope::Access::write : hook::GrantScope::Access::read;
  session.scope.tables = split_csv(a.get("tables").value_or(""));
  session.scope.columns = split_csv(a.get("columns").value_or(""));

  std::shared_ptr<const sql::Catalog> catalog =
      std::make_shared<sql::OfflineCatalog>(conn->postgres.search_path);
  if (a.has("live")) {
    auto tls = net::make_client_tls(conn->postgres.tls, conn->postgres.ca_file);
    if (!tls) return fail(tls.status().message());
    auto loaded = session::pg::load_catalog_blocking(*conn, **tls, 1, std::chrono::seconds(15));
    if (!loaded) return fail("policy check --live: " + loaded.status().message());
    catalog = *loaded;
  }
  sql::Analysis analysis = sql::PgAnalyzer(catalog).analyze(*sql_text);
  if (!analysis.ok()) {
    auto r = policy::parse_refusal(analysis);
    json::object o;
    o["action"] = "deny";
    o["rule"] = r.rule;
    o["reason"] = r.message;
    std::cout << json::serialize(o) << "\n";
    return 0;
  }
  policy::EvalContext ctx{session, now_ms()};
  hook::SessionScratch scratch;
  auto decisions = policy::PolicyStage::decide_all(*cfg->policy, analysis, ctx, &scratch);
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const auto& d = decisions[i];
    const auto& f = analysis.statements[i];
    json::object o;
    o["action"] = std::string(policy::to_string(d.action));
    o["rule"] = d.rule;
    o["reason"] = d.reason;
    o["kind"] = std::string(sql::to_string(f.kind));
    json::array effects;
    for (auto k : f.effects) effects.emplace_back(std::string(sql::to_string(k)));
    o["effects"] = std::move(effects);
    o["reads"] = strings(f.reads);
    o["writes"] = strings(f.writes);
    json::array columns;
    for (const auto& u : f.columns) {
      json::object c;
      c["column"] = u.relation + "." + u.column;
      c["clause"] = std::string(sql::to_string(u.clause));
      columns.push_back(std::move(c));
    }
    o["columns"] = std::move(columns);
    o["functions"] = strings(f.functions);
    o["masked"] = json::array();
    if (d.caps.max_rows) o["max_rows"] = d.caps.max_rows;
    if (d.caps.max_bytes) o["max_bytes"] = d.caps.max_bytes;
    if (!f.unresolved.empty()) o["unresolved"] = strings(f.unresolved);
    std::cout << json::serialize(o) << "\n";
  }
  return 0;
}

int cmd_sessions(const Args& a) {
  if (a.words.size() < 2 || a.words[1] != "list") return fail("sessions: expected list");
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  auto store = open_store(*cfg);
  if (!store) return fail(store.status().message());
  auto list = (*store)->list_sessions(a.has("live"), 1000);
  if (!list) return fail(list.status().message());
  if (a.has("json")) {
    json::array arr;
    for (const auto& s : *list) {
      json::object o;
      o["id"] = s.id;
      o["node"] = s.node;
      o["grant_id"] = s.grant_id;
      o["identity"] = s.identity;
      o["connection"] = s.connection;
      o["protocol"] = s.protocol;
      o["client_address"] = s.client_address;
      o["application"] = s.application;
      o["tls"] = s.tls;
      o["started_at"] = format_utc(s.started_at);
      if (s.ended_at) {
        o["ended_at"] = format_utc(s.ended_at);
        o["end_reason"] = s.end_reason;
      }
      arr.push_back(std::move(o));
    }
    std::cout << json::serialize(arr) << "\n";
    return 0;
  }
  std::printf("%-20s %-20s %-12s %-25s %s\n", "ID", "IDENTITY", "CONNECTION", "STARTED", "ENDED");
  for (const auto& s : *list)
    std::printf("%-20s %-20s %-12s %-25s %s\n", s.id.c_str(), s.identity.c_str(),
                s.connection.c_str(), format_utc(s.started_at).c_str(),
                s.ended_at ? (format_utc(s.ended_at) + " (" + s.end_reason + ")").c_str() : "live");
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& argv) {
  Args a = Args::parse(argv);
  if (!a.errors.empty()) return fail(a.errors.front());
  if (a.has("version") || (!a.words.empty() && a.words[0] == "version")) {
    std::printf("sluice %s\n", kVersion);
    return 0;
  }
  if (a.words.empty() || a.has("help") || a.words[0] == "help") {
    std::fputs(kUsage, a.words.empty() && !a.has("help") ? stderr : stdout);
    return a.words.empty() && !a.has("help") ? 2 : 0;
  }
  const std::string& cmd = a.words[0];
  if (cmd == "serve") return cmd_serve(a);
  if (cmd == "token") {
    if (a.words.size() < 2 || a.words[1] != "issue") return fail("token: expected issue");
    return cmd_token_issue(a);
  }
  if (cmd == "grants") return cmd_grants(a);
  if (cmd == "sessions") return cmd_sessions(a);
  if (cmd == "policy") return cmd_policy(a);
  return fail("unknown command '" + cmd + "'\n" + kUsage);
}

}  // namespace sluice::app
