#include "app/cli.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "admin/json.h"
#include "app/cli_common.h"
#include "app/gateway.h"
#include "config/config.h"
#include "core/log.h"
#include "core/time.h"
#include "core/version.h"
#include "identity/grant_service.h"
#include "net/tls.h"
#include "policy/policy_stage.h"
#include "policy/roles.h"
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
  sluice grants approve -c sluice.yaml ID --as NAME
  sluice grants deny -c sluice.yaml ID --as NAME --reason TEXT
  sluice grants request --server URL --connection CONN --ttl 15m [--access read|write]
                        [--tables a,b] [--columns s.t.c] [--role R] [--reason TEXT]
                        [--wait 10m] [--ca-file FILE] [--credential-file FILE]
      (credential: $SLUICE_API_KEY or $SLUICE_BEARER_TOKEN or --credential-file; prints the
       token as the last line; exit 3 when denied, 4 when the wait ends undecided)
  sluice apikeys create -c sluice.yaml --identity NAME --roles a,b [--ttl 90d] [--json]
  sluice apikeys list -c sluice.yaml [--json]
  sluice apikeys revoke -c sluice.yaml ID
  sluice sessions list -c sluice.yaml [--json] [--live] [--identity NAME] [--connection C]
                      [--table T] [--column T.C] [--since TIME|2h] [--until TIME]
  sluice sessions tail SESSION --server URL [--no-follow]   (live, through the admin API)
  sluice replay -c sluice.yaml SESSION [--json]
  sluice audit verify -c sluice.yaml [--dir DIR]
  sluice audit export -c sluice.yaml --format jsonl [--since TIME|2h] [--until TIME]
  sluice audit keygen            (prints a new Ed25519 signing key, PEM)
  sluice audit public-key -c sluice.yaml
  sluice policy check -c sluice.yaml --identity NAME --connection CONN [--access read|write]
                      [--tables a,b] [--columns s.t.c] [--role R] [--live] --sql 'SQL'

  sluice --version

docs: README.md, docs/configuration.md, docs/api.md, docs/design/
)";

using namespace cli;

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
  if (!r.role.empty()) {
    const policy::Role* role = cfg->roles->find(r.role);
    if (!role)
      return fail("token issue: no role named '" + r.role + "' in " + cfg->source.string());
    r.max_sessions = role->max_sessions;
  }
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
    o["reads"] = admin::to_json(f.reads);
    o["writes"] = admin::to_json(f.writes);
    json::array columns;
    for (const auto& u : f.columns) {
      json::object c;
      c["column"] = u.relation + "." + u.column;
      c["clause"] = std::string(sql::to_string(u.clause));
      columns.push_back(std::move(c));
    }
    o["columns"] = std::move(columns);
    o["functions"] = admin::to_json(f.functions);
    o["masked"] = json::array();
    if (d.caps.max_rows) o["max_rows"] = d.caps.max_rows;
    if (d.caps.max_bytes) o["max_bytes"] = d.caps.max_bytes;
    if (!f.unresolved.empty()) o["unresolved"] = admin::to_json(f.unresolved);
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
  store::SessionFilter f;
  f.live_only = a.has("live");
  f.identity = a.get("identity");
  f.connection = a.get("connection");
  if (auto t = a.get("table")) f.object = *t;
  if (auto c = a.get("column")) f.object = *c;
  for (const char* k : {"since", "until"})
    if (auto v = a.get(k)) {
      auto t = parse_time_arg(*v);
      if (!t)
        return fail(std::string("sessions list: --") + k +
                    " takes a time (2026-12-04T10:00:00Z) or a duration ago (2h)");
      (std::string_view(k) == "since" ? f.since : f.until) = *t;
    }
  auto list = (*store)->list_sessions(f);
  if (!list) return fail(list.status().message());
  if (a.has("json")) {
    json::array arr;
    for (const auto& s : *list) arr.push_back(admin::session_to_json(s));
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
  if (cmd == "grants") {
    if (a.words.size() >= 2 && a.words[1] == "request") return cmd_grants_request(a);
    return cmd_grants(a);
  }
  if (cmd == "apikeys") return cmd_apikeys(a);
  if (cmd == "audit") return cmd_audit(a);
  if (cmd == "replay") return cmd_replay_session(a);
  if (cmd == "sessions") {
    if (a.words.size() >= 2 && a.words[1] == "tail") return cmd_sessions_tail(a);
    return cmd_sessions(a);
  }
  if (cmd == "policy") return cmd_policy(a);
  return fail("unknown command '" + cmd + "'\n" + kUsage);
}

}  // namespace sluice::app
