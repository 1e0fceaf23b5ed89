// The policy engine: grant scope first, rules in order, the agent baseline.
#include <gtest/gtest.h>

#include "config/config.h"
#include "policy/baseline.h"
#include "policy/engine.h"
#include "sql/pg_analyzer.h"

namespace sluice::policy {
namespace {

std::shared_ptr<const Policy> policy_from(const std::string& rules_yaml) {
  auto c =
      config::parse_config("listen: {postgres: '127.0.0.1:1'}\n" + rules_yaml, "/x/sluice.yaml");
  EXPECT_TRUE(c.is_ok()) << c.status().message();
  return c.is_ok() ? c->policy : nullptr;
}

class PolicyTest : public ::testing::Test {
 protected:
  StatementDecision decide(const std::string& sql,
                           hook::GrantScope::Access access = hook::GrantScope::Access::write) {
    session.scope.access = access;
    auto a = sql::PgAnalyzer(cat).analyze(sql);
    EXPECT_TRUE(a.ok()) << a.error;
    EvalContext ctx{session, 1'699'964'000'000};  // 2023-11-14 12:13 UTC
    return evaluate(*policy, a.statements.at(0), ctx);
  }
  std::shared_ptr<sql::OfflineCatalog> cat = std::make_shared<sql::OfflineCatalog>();
  hook::SessionInfo session;
  std::shared_ptr<const Policy> policy = policy_from(R"(
rules:
  - include: agent-baseline
  - { name: no-bare-delete, when: { kind: [delete, update], has_where: false }, action: deny }
  - { name: pii, when: { reads: ["public.customers.ssn"] }, action: approval, mode: hold }
  - { name: card-predicates, when: { columns: { where: ["public.customers.card"] } }, action: deny }
  - { name: cap, when: { kind: [select] }, action: limit, max_rows: 50 }
  - { name: cap2, when: { reads: ["public.orders"] }, action: limit, max_rows: 10, max_bytes: 1MiB }
)");
};

TEST_F(PolicyTest, FirstMatchDecidesAndLimitsAccumulate) {
  auto d = decide("select id from orders");
  EXPECT_EQ(d.action, Action::allow);
  EXPECT_EQ(d.caps.max_rows, 10u);
  EXPECT_EQ(d.caps.max_bytes, 1u << 20);
  EXPECT_EQ(d.caps.rule, "cap2");
  EXPECT_EQ(decide("delete from orders").rule, "no-bare-delete");
  EXPECT_EQ(decide("delete from orders where id = 1").action, Action::allow);
  auto pii = decide("select * from customers");  // * reads ssn
  EXPECT_EQ(pii.action, Action::approval);
  EXPECT_EQ(pii.mode, ApprovalMode::hold);
  EXPECT_EQ(decide("select name from customers where card like '4%'").rule, "card-predicates");
  EXPECT_EQ(decide("select card from customers").action, Action::allow);
}

TEST_F(PolicyTest, ARelationReadRuleSeesWhereAndReturningOfWrites) {
  policy = policy_from(R"(
rules:
  - { name: no-customer-reads, when: { reads: ["public.customers"] }, action: deny }
)");
  // The WHERE and RETURNING of a write read the table's values: an agent must not use
  // UPDATE ... RETURNING to read what SELECT may not.
  EXPECT_EQ(decide("update customers set name = name where ssn like '1%' returning ssn").rule,
            "no-customer-reads");
  EXPECT_EQ(decide("delete from customers where id = 1").rule, "no-customer-reads");
  EXPECT_EQ(decide("select 1 from customers").rule, "no-customer-reads");
  EXPECT_EQ(decide("insert into customers (name) values ('x')").action, Action::allow);
}

TEST_F(PolicyTest, BaselineCatchesEachClass) {
  struct Case {
    const char* sql;
    const char* rule;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"drop table orders", "baseline-ddl"},
           {"create temp table t(a int)", "baseline-ddl"},
           {"select 1 into t", "baseline-ddl"},
           {"grant all on orders to public", "baseline-dcl"},
           {"copy orders to '/tmp/x'", "baseline-server-files"},
           {"copy orders from program 'id'", "baseline-server-files"},
           {"do $$ begin end $$", "baseline-code"},
           {"call p()", "baseline-code"},
           {"select pg_read_file('/etc/passwd')", "baseline-functions"},
           {"select pg_terminate_backend(1)", "baseline-functions"},
           {"select query_to_xml('delete from orders', true, true, '')", "baseline-functions"},
           {"select lo_import('/etc/passwd')", "baseline-functions"},
           {"select public.touch()", "baseline-functions"},
           {"select set_config('standard_conforming_strings', 'off', false)", "baseline-functions"},
           {"set standard_conforming_strings = off", "baseline-settings"},
           {"set search_path = evil", "baseline-settings"},
           {"set role postgres", "baseline-settings"},
           {"reset all", "baseline-settings"},
           {"discard all", "baseline-settings"},
           {"select * from pg_stats", "baseline-catalog"},
           {"select * from information_schema.tables", "baseline-catalog"},
           {"update pg_settings set setting = 'off' where name = 'x'", "baseline-catalog"},
           {"explain analyze select 1", "baseline-explain-analyze"},
           {"listen ch", "baseline-listen-notify"},
           {"notify ch", "baseline-listen-notify"},
           {"vacuum orders", "baseline-utility"},
           {"checkpoint", "baseline-utility"},
       }) {
    EXPECT_EQ(decide(c.sql).rule, c.rule) << c.sql;
    EXPECT_NE(decide(c.sql).action, Action::allow) << c.sql;
  }
  EXPECT_EQ(decide("set timezone = 'UTC'").action, Action::allow);
  EXPECT_EQ(decide("select lower(name), now(), count(*) from orders group by 1").action,
            Action::allow);
}

TEST_F(PolicyTest, ReadGrantsAreReadOnlyInEverySense) {
  using A = hook::GrantScope::Access;
  for (const char* sql :
       {"insert into orders values (1)", "update orders set id = 1 where id = 2",
        "with x as (delete from orders where id = 1 returning 1) select * from x",
        "copy orders from stdin", "begin read write", "set transaction read write"}) {
    auto d = decide(sql, A::read);
    EXPECT_EQ(d.action, Action::deny) << sql;
    EXPECT_EQ(d.rule, "grant-scope") << sql;
  }
  for (const char* sql :
       {"select * from orders for update", "lock table orders", "select nextval('s')",
        "select pg_advisory_lock(1)", "set default_transaction_read_only = off"}) {
    auto d = decide(sql, A::read);
    EXPECT_EQ(d.action, Action::deny) << sql;
  }
  EXPECT_EQ(decide("select nextval('s')", A::write).action, Action::allow);
  EXPECT_EQ(decide("select id from orders", A::read).action, Action::allow);
}

TEST_F(PolicyTest, GrantTablesAndColumnsLimitWhatIsNamed) {
  session.scope.tables = {"orders"};
  EXPECT_EQ(decide("select id from orders").action, Action::allow);
  auto d = decide("select name from customers");
  EXPECT_EQ(d.rule, "grant-scope");
  EXPECT_NE(d.reason.find("public.customers"), std::string::npos);
  EXPECT_EQ(decide("select 1 from orders o join customers c on true").rule, "grant-scope");
  session.scope.tables.clear();
  session.scope.columns = {"public.orders.id", "public.orders.amount"};
  EXPECT_EQ(decide("select id, amount from orders").action, Action::allow);
  EXPECT_EQ(decide("select status from orders").rule, "grant-scope");
  EXPECT_EQ(decide("select * from orders").rule, "grant-scope");  // columns unknown offline: *
}

TEST_F(PolicyTest, ConditionsOnIdentityTimeAndFunctions) {
  auto p = policy_from(R"(
rules:
  - { name: night, when: { time: { from: "22:00", to: "06:00" } }, action: deny }
  - { name: bots, when: { identity: ["bot-*"], functions: ["pg_catalog.count"] }, action: deny }
  - { name: quoted, when: { reads: ['"Sales"."Q1"'] }, action: deny }
default_action: deny
)");
  ASSERT_TRUE(p);
  policy = p;
  session.identity = "bot-7";
  EXPECT_EQ(decide("select count(*) from orders").rule, "bots");
  session.identity = "alice";
  auto d = decide("select count(*) from orders");
  EXPECT_EQ(d.action, Action::deny);  // the default
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(decide("select * from \"Sales\".\"Q1\"").rule, "quoted");
  EXPECT_NE(decide("select * from sales.q1").rule, "quoted");
  TimeWindow w;
  w.from_minute = 22 * 60;
  w.to_minute = 6 * 60;
  EXPECT_TRUE(w.contains(1'700'000'000'000 - (1'700'000'000'000 % 86'400'000) + 23 * 3'600'000));
  EXPECT_FALSE(w.contains(1'700'000'000'000 - (1'700'000'000'000 % 86'400'000) + 12 * 3'600'000));
}

TEST_F(PolicyTest, RuleErrorsNameTheKey) {
  auto c = config::parse_config(R"(listen: {postgres: '127.0.0.1:1'}
rules:
  - { name: a, when: { kind: [frobnicate] }, action: deny }
  - { name: b, when: { columns: { where: ["public.t"] } }, action: deny }
  - { name: c, action: limit }
  - { include: agent-basement }
)",
                                "/etc/s.yaml");
  ASSERT_FALSE(c.is_ok());
  const auto& m = c.status().message();
  EXPECT_NE(m.find("rules[0].when.kind: unknown statement kind 'frobnicate'"), std::string::npos)
      << m;
  EXPECT_NE(m.find("rules[1].when.columns.where: 'public.t' is not a column"), std::string::npos)
      << m;
  EXPECT_NE(m.find("a limit rule needs max_rows or max_bytes"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown rule set 'agent-basement'"), std::string::npos) << m;
}

TEST(Baseline, AllowlistsAreAllowlists) {
  EXPECT_TRUE(is_safe_function("pg_catalog.lower"));
  EXPECT_FALSE(is_safe_function("public.lower"));
  EXPECT_FALSE(is_safe_function("pg_catalog.pg_read_file"));
  EXPECT_FALSE(is_safe_function("pg_catalog.set_config"));
  EXPECT_FALSE(is_safe_function("pg_catalog.dblink"));
  EXPECT_TRUE(is_agent_setting("timezone"));
  EXPECT_FALSE(is_agent_setting("search_path"));
  EXPECT_FALSE(is_agent_setting("standard_conforming_strings"));
  EXPECT_FALSE(is_agent_setting("client_encoding"));
  EXPECT_FALSE(is_agent_setting("backslash_quote"));
  EXPECT_FALSE(is_agent_setting("role"));
}

}  // namespace
}  // namespace sluice::policy
