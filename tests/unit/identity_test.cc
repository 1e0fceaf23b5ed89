#include <gtest/gtest.h>

#include "identity/api_keys.h"
#include "identity/grant_service.h"
#include "identity/token.h"
#include "policy/roles.h"
#include "session/auth_throttle.h"
#include "session/pg/startup_policy.h"
#include "store/state_store.h"
#include "temp_dir.h"

namespace sluice {
namespace {

TEST(Token, FormatAndChecksum) {
  std::string t = identity::generate_token();
  EXPECT_EQ(t.size(), identity::kTokenLength);
  EXPECT_EQ(t.rfind("slc_", 0), 0u);
  EXPECT_TRUE(identity::check_token_format(t).is_ok());
  for (std::size_t i = 4; i < t.size(); ++i) {  // every single-character change is caught
    std::string bad = t;
    bad[i] = bad[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(identity::check_token_format(bad).is_ok()) << i;
  }
  EXPECT_FALSE(identity::check_token_format(t.substr(0, t.size() - 1)).is_ok());
  EXPECT_FALSE(identity::check_token_format("slk_" + t.substr(4)).is_ok());
  EXPECT_NE(identity::generate_token(), t);
}

TEST(Token, VerifiersShareTheIdentitySalt) {
  std::string secret(32, 's');
  EXPECT_EQ(identity::scram_salt_for(secret, "alice"), identity::scram_salt_for(secret, "alice"));
  EXPECT_NE(identity::scram_salt_for(secret, "alice"), identity::scram_salt_for(secret, "bob"));
  EXPECT_NE(identity::scram_salt_for(secret, "alice"),
            identity::scram_salt_for(std::string(32, 't'), "alice"));
  EXPECT_EQ(identity::token_lookup_hash("slc_x").size(), 64u);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::open_sqlite_store(dir.path() + "/state.db");
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    st = std::move(*s);
  }
  testing::TempDir dir{"sluice-store"};
  std::unique_ptr<store::StateStore> st;
};

TEST_F(StoreTest, IssueFindAndRevoke) {
  identity::GrantService grants(*st);
  identity::GrantRequest r;
  r.identity = "alice";
  r.connection = "shop";
  r.ttl_ms = 60000;
  r.tables = {"public.orders"};
  auto issued = grants.issue_local(r, "admin");
  ASSERT_TRUE(issued.is_ok()) << issued.status().message();
  EXPECT_TRUE(issued->grant.live(st->now()));

  auto tokens = st->tokens_for_identity("alice", 0);
  ASSERT_TRUE(tokens.is_ok());
  ASSERT_EQ(tokens->size(), 1u);
  const auto& t = (*tokens)[0];
  EXPECT_EQ(t.token.lookup_hash, identity::token_lookup_hash(issued->token));
  EXPECT_EQ(t.grant.tables, std::vector<std::string>{"public.orders"});
  // The verifier checks against the token, and nothing stored is the token itself.
  auto secret = st->install_secret();
  auto v = identity::token_verifier(issued->token, identity::scram_salt_for(*secret, "alice"));
  EXPECT_EQ(t.token.scram_stored_key, std::string(crypto::view(v.stored_key)));
  EXPECT_EQ(t.token.lookup_hash.find(issued->token), std::string::npos);

  auto before = st->last_change_seq();
  auto revoked = grants.revoke(issued->grant.id, "security");
  ASSERT_TRUE(revoked.is_ok());
  EXPECT_EQ(revoked->status, store::GrantStatus::revoked);
  auto changes = st->changes_since(*before, 10);
  ASSERT_TRUE(changes.is_ok());
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].kind, store::change_kind::kGrantRevoked);
  EXPECT_EQ((*changes)[0].subject, issued->grant.id);
  EXPECT_FALSE(grants.revoke(issued->grant.id, "security").is_ok());  // already revoked
  EXPECT_EQ(grants.revoke("g_nope", "x").status().code(), Code::not_found);
}

identity::GrantRequest request(std::string id, std::string conn, std::int64_t ttl) {
  identity::GrantRequest r;
  r.identity = std::move(id);
  r.connection = std::move(conn);
  r.ttl_ms = ttl;
  return r;
}

TEST_F(StoreTest, ReopeningKeepsDataAndSchema) {
  identity::GrantService grants(*st);
  identity::GrantRequest r = request("bob", "shop", 1000);
  ASSERT_TRUE(grants.issue_local(r, "admin").is_ok());
  auto secret = st->install_secret();
  st.reset();
  auto again = store::open_sqlite_store(dir.path() + "/state.db");
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*(*again)->install_secret(), *secret);
  EXPECT_EQ((*again)->list_grants({}).value().size(), 1u);
}

TEST_F(StoreTest, RejectsInvalidRequests) {
  identity::GrantService grants(*st);
  EXPECT_FALSE(grants.issue_local(request("has space", "shop", 1000), "a").is_ok());
  EXPECT_FALSE(grants.issue_local(request("alice", "shop", 0), "a").is_ok());
  identity::GrantRequest r = request("alice", "shop", 1000);
  r.access = "admin";
  EXPECT_FALSE(grants.issue_local(r, "a").is_ok());
}

// ---- roles and the grant lifecycle ----------------------------------------------------------

policy::Roles test_roles() {
  policy::Roles roles;
  policy::Role agents;
  agents.name = "agents";
  agents.match.groups = {"ai-agents"};
  agents.connections = {"shop"};
  agents.max_ttl_ms = 3600'000;
  agents.allow_write = true;
  agents.auto_approve.enabled = true;
  agents.auto_approve.max_ttl_ms = 900'000;
  agents.reviewers.groups = {"dba"};
  policy::Role readers;
  readers.name = "readers";
  readers.match.identities = {"report-*"};
  readers.connections = {"shop"};
  readers.tables = {"public.orders"};
  roles.list = {agents, readers};
  return roles;
}

policy::Principal principal(std::string id, std::vector<std::string> groups) {
  policy::Principal p;
  p.kind = policy::Principal::Kind::oidc;
  p.identity = std::move(id);
  p.groups = std::move(groups);
  return p;
}

TEST(Roles, DecideRequest) {
  auto roles = test_roles();
  auto agent = principal("agent-1", {"ai-agents"});
  policy::AccessRequest r;
  r.connection = "shop";
  r.ttl_ms = 600'000;
  using O = policy::RequestDecision::Outcome;
  EXPECT_EQ(policy::decide_request(roles, agent, r).outcome, O::approve);
  r.write = true;
  EXPECT_EQ(policy::decide_request(roles, agent, r).outcome, O::review);
  r.write = false;
  r.ttl_ms = 1800'000;  // over the auto-approval window, within the role's
  EXPECT_EQ(policy::decide_request(roles, agent, r).outcome, O::review);
  r.ttl_ms = 7200'000;  // over the role's
  auto d = policy::decide_request(roles, agent, r);
  EXPECT_EQ(d.outcome, O::deny);
  EXPECT_NE(d.reason.find("up to 1h"), std::string::npos) << d.reason;
  r.ttl_ms = 600'000;
  r.connection = "payroll";
  EXPECT_EQ(policy::decide_request(roles, agent, r).outcome, O::deny);
  // A role without reviewers or auto-approval denies what it cannot approve itself.
  auto reporter = principal("report-nightly", {});
  r.connection = "shop";
  r.tables = {"public.orders"};
  d = policy::decide_request(roles, reporter, r);
  EXPECT_EQ(d.outcome, O::deny);
  EXPECT_NE(d.reason.find("no reviewers"), std::string::npos) << d.reason;
  r.tables = {"public.customers"};
  d = policy::decide_request(roles, reporter, r);
  EXPECT_NE(d.reason.find("does not cover table public.customers"), std::string::npos);
  EXPECT_EQ(policy::decide_request(roles, principal("stranger", {}), r).outcome, O::deny);
  // API keys hold exactly the roles they are bound to, whatever their identity looks like.
  policy::Principal key;
  key.kind = policy::Principal::Kind::api_key;
  key.identity = "report-x";
  key.bound_roles = {"agents"};
  EXPECT_TRUE(policy::holds(roles.list[0], key));
  EXPECT_FALSE(policy::holds(roles.list[1], key));
}

TEST(Roles, AColumnLimitedRoleNeedsTheColumnsNamed) {
  policy::Roles roles;
  policy::Role r;
  r.name = "support";
  r.match.groups = {"support"};
  r.connections = {"shop"};
  r.columns = {"public.customers.id", "public.customers.name"};
  r.auto_approve.enabled = true;
  roles.list = {r};
  policy::AccessRequest req;
  req.connection = "shop";
  req.ttl_ms = 60'000;
  req.tables = {"public.customers"};
  auto d = policy::decide_request(roles, principal("s1", {"support"}), req);
  EXPECT_EQ(d.outcome, policy::RequestDecision::Outcome::deny);  // no columns: would mean all
  EXPECT_NE(d.reason.find("name its columns"), std::string::npos) << d.reason;
  req.columns = {"public.customers.name"};
  EXPECT_EQ(policy::decide_request(roles, principal("s1", {"support"}), req).outcome,
            policy::RequestDecision::Outcome::approve);
  req.columns = {"public.customers.ssn"};
  EXPECT_EQ(policy::decide_request(roles, principal("s1", {"support"}), req).outcome,
            policy::RequestDecision::Outcome::deny);
}

TEST_F(StoreTest, GrantLifecycle) {
  auto roles = test_roles();
  identity::GrantService grants(*st);
  auto agent = principal("agent-1", {"ai-agents"});
  auto dba = principal("dana", {"dba"});
  identity::GrantRequest r = request("agent-1", "shop", 600'000);
  r.access = "write";
  auto g = grants.request(r, agent, roles);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->status, store::GrantStatus::pending);
  EXPECT_EQ(grants.take_token(g->id, agent).status().code(), Code::unavailable);
  // Only a reviewer of the role, never the requester.
  EXPECT_EQ(grants.approve(g->id, agent, roles, false).status().code(), Code::permission_denied);
  EXPECT_EQ(
      grants.approve(g->id, principal("agent-2", {"ai-agents"}), roles, false).status().code(),
      Code::permission_denied);
  // Self-approval is refused even to the local administrator.
  policy::Principal local;
  local.identity = "agent-1";
  EXPECT_EQ(grants.approve(g->id, local, roles, true).status().code(), Code::permission_denied);
  auto approved = grants.approve(g->id, dba, roles, false);
  ASSERT_TRUE(approved.is_ok()) << approved.status().message();
  EXPECT_EQ(approved->starts_at, approved->decided_at);  // the window runs from approval
  EXPECT_EQ(approved->expires_at - approved->starts_at, 600'000);
  EXPECT_FALSE(grants.approve(g->id, dba, roles, false).is_ok());  // decided once
  // The token: to the requester only, exactly once, and it logs in.
  EXPECT_EQ(grants.take_token(g->id, principal("agent-2", {})).status().code(), Code::not_found);
  auto t = grants.take_token(g->id, agent);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  auto live = st->token_by_lookup_hash(identity::token_lookup_hash(t->token));
  ASSERT_TRUE(live.is_ok() && live->has_value());
  EXPECT_EQ((*live)->grant.id, g->id);
  EXPECT_EQ(grants.take_token(g->id, agent).status().code(), Code::failed_precondition);

  // Denial needs a reason, and the requester reads it.
  auto g2 = grants.request(r, agent, roles);
  EXPECT_FALSE(grants.deny(g2->id, dba, "", roles, false).is_ok());
  ASSERT_TRUE(grants.deny(g2->id, dba, "use the replica", roles, false).is_ok());
  auto refused = grants.take_token(g2->id, agent);
  EXPECT_NE(refused.status().message().find("use the replica"), std::string::npos);
}

TEST_F(StoreTest, SessionCapIsAtomicPerGrant) {
  store::SessionRecord s;
  s.grant_id = "g_1";
  s.node = "node-1";
  for (int i = 0; i < 2; ++i) {
    s.id = "s_" + std::to_string(i);
    ASSERT_TRUE(st->insert_session(s, 2).is_ok());
  }
  s.id = "s_x";
  EXPECT_EQ(st->insert_session(s, 2).code(), Code::resource_exhausted);
  EXPECT_TRUE(st->insert_session(s, 0).is_ok());  // 0: no cap
  EXPECT_EQ(*st->end_node_sessions("node-1", st->now(), "restart"), 3);
  EXPECT_EQ(*st->count_live_sessions("g_1"), 0);
}

TEST_F(StoreTest, ApiKeys) {
  identity::ApiKeyService keys(*st);
  auto k = keys.create("svc", {"agents"}, 0, "admin");
  ASSERT_TRUE(k.is_ok()) << k.status().message();
  EXPECT_EQ(k->key.rfind("slk_", 0), 0u);
  auto p = keys.authenticate(k->key);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(p->identity, "svc");
  EXPECT_EQ(p->bound_roles, std::vector<std::string>{"agents"});
  std::string tampered = k->key;
  tampered[10] = tampered[10] == 'a' ? 'b' : 'a';
  EXPECT_EQ(keys.authenticate(tampered).status().code(), Code::unauthenticated);
  ASSERT_TRUE(keys.revoke(k->record.id, "admin").is_ok());
  EXPECT_EQ(keys.authenticate(k->key).status().code(), Code::unauthenticated);
  auto listed = st->list_api_keys(10);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().lookup_hash.find(k->key), std::string::npos);
}

TEST(StartupPolicy, AllowsTheAllowlistAndRefusesTheRest) {
  auto check = [](std::vector<std::pair<std::string_view, std::string_view>> params) {
    pg::StartupParams p;
    p.params = std::move(params);
    return session::pg::check_startup(p);
  };
  auto ok = check({{"user", "alice"},
                   {"database", "shop"},
                   {"client_encoding", "utf-8"},
                   {"DateStyle", "ISO, MDY"},
                   {"TimeZone", "Europe/Paris"},
                   {"extra_float_digits", "3"},
                   {"application_name", "jdbc\x01x"}});
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->application, "jdbc?x");
  EXPECT_EQ(ok->settings.front(), (std::pair<std::string, std::string>{"client_encoding", "UTF8"}));
  EXPECT_FALSE(check({{"user", "a"}, {"options", "-c search_path=x"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"search_path", "evil"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"replication", "true"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"role", "postgres"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"client_encoding", "SQL_ASCII"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"DateStyle", "German"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"TimeZone", "x'; drop"}}).is_ok());
  EXPECT_FALSE(check({{"user", "a"}, {"extra_float_digits", "9"}}).is_ok());
  EXPECT_FALSE(check({{"database", "shop"}}).is_ok());
  auto defaulted = check({{"user", "alice"}});
  EXPECT_EQ(defaulted->database, "alice");
  auto pq = check({{"user", "a"}, {"_pq_.compression", "on"}});
  ASSERT_TRUE(pq.is_ok());
  EXPECT_EQ(pq->unrecognized_options, std::vector<std::string>{"_pq_.compression"});
  EXPECT_EQ(session::pg::upstream_application_name("alice", "psql"), "alice/psql");
  EXPECT_EQ(session::pg::upstream_application_name(std::string(70, 'a'), "x").size(), 63u);
}

TEST(AuthThrottle, RefusesAfterTheBudgetAndRefills) {
  session::AuthThrottle t(3);
  std::int64_t now = 1'000'000;
  EXPECT_TRUE(t.allow("10.0.0.1", now));
  for (int i = 0; i < 3; ++i) t.record_failure("10.0.0.1", now);
  EXPECT_FALSE(t.allow("10.0.0.1", now));
  EXPECT_TRUE(t.allow("10.0.0.2", now));  // per address
  EXPECT_GT(t.retry_after_seconds("10.0.0.1", now), 0);
  EXPECT_TRUE(t.allow("10.0.0.1", now + 20'000));  // one token back after 20 s
}

}  // namespace
}  // namespace sluice
