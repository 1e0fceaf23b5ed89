#include <gtest/gtest.h>
#include <stdlib.h>

#include "identity/grant_service.h"
#include "identity/token.h"
#include "session/auth_throttle.h"
#include "session/pg/startup_policy.h"
#include "store/state_store.h"

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
    char tmpl[] = "/tmp/sluice-store-XXXXXX";
    dir = mkdtemp(tmpl);
    auto s = store::open_sqlite_store(dir + "/state.db");
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    st = std::move(*s);
  }
  std::string dir;
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
  auto again = store::open_sqlite_store(dir + "/state.db");
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
