#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "policy/roles.h"
#include "temp_dir.h"

namespace sluice::config {
namespace {

void expect_error(const std::string& yaml, const std::string& fragment);

constexpr const char* kGood = R"(
data_dir: ./state
listen:
  postgres: 127.0.0.1:15432
limits:
  handshake_timeout: 5s
  max_message_bytes: 8MiB
connections:
  - name: shop
    type: postgres
    upstream: { host: db.internal, port: 5433, database: shop, user: agent,
                password: "${env:SLUICE_TEST_PW}", tls: verify-full }
)";

TEST(Config, ParsesTheDocumentedKeys) {
  setenv("SLUICE_TEST_PW", "s3cret", 1);
  auto c = parse_config(kGood, "/etc/sluice/sluice.yaml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, "/etc/sluice/state");
  EXPECT_EQ(c->listen_postgres->port, 15432);
  EXPECT_EQ(c->limits.handshake_timeout, Duration(5000));
  EXPECT_EQ(c->limits.max_message_bytes, 8u << 20);
  ASSERT_EQ(c->connections.size(), 1u);
  const auto& u = c->connections[0].postgres;
  EXPECT_EQ(u.host, "db.internal");
  EXPECT_EQ(u.port, 5433);
  EXPECT_EQ(u.password.reveal(), "s3cret");
  EXPECT_EQ(u.tls, UpstreamTls::verify_full);
}

TEST(Config, BusyPollingIsOffUnlessSet) {
  setenv("SLUICE_TEST_PW", "s3cret", 1);
  auto off = parse_config(kGood, "x.yaml");
  ASSERT_TRUE(off.is_ok()) << off.status().message();
  EXPECT_EQ(off->busy_poll.count(), 0);
  auto on = parse_config(std::string(kGood) + "busy_poll_us: 50\n", "x.yaml");
  ASSERT_TRUE(on.is_ok()) << on.status().message();
  EXPECT_EQ(on->busy_poll, std::chrono::microseconds(50));
  expect_error(std::string(kGood) + "busy_poll_us: 2000\n",
               "busy_poll_us: expected an integer from 0 to 1000, got '2000'");
  expect_error(std::string(kGood) + "busy_poll_us: 50us\n",
               "busy_poll_us: expected an integer from 0 to 1000, got '50us'");
}

TEST(Config, UpstreamTlsDefaultsToVerifyFull) {
  auto c = parse_config(R"(
listen: {postgres: "127.0.0.1:1"}
connections: [{name: a, upstream: {host: h, database: d, user: u}}]
)",
                        "x.yaml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->connections[0].postgres.tls, UpstreamTls::verify_full);
}

void expect_error(const std::string& yaml, const std::string& fragment) {
  auto c = parse_config(yaml, "/etc/sluice.yaml");
  ASSERT_FALSE(c.is_ok()) << "expected an error containing: " << fragment;
  EXPECT_NE(c.status().message().find(fragment), std::string::npos) << c.status().message();
}

TEST(Config, ErrorsNameTheFileLineAndKey) {
  expect_error("listen:\n  postgres: 127.0.0.1:15432\nlimits:\n  handshake_timeout: soon\n",
               "/etc/sluice.yaml:4:22: limits.handshake_timeout: expected a duration");
  expect_error("listen:\n  postgres: nowhere\n",
               "/etc/sluice.yaml:2:13: listen.postgres: expected host:port");
  expect_error("listen:\n  postgres: 127.0.0.1:1\nlisten_typo: 1\n",
               "/etc/sluice.yaml:3:1: listen_typo: unknown key; expected one of");
  expect_error(
      "listen: {postgres: '127.0.0.1:1'}\nconnections:\n  - name: a\n    upstream: {host: h, "
      "database: d, user: u, port: 70000}\n",
      "connections[0].upstream.port: expected an integer from 1 to 65535, got '70000'");
  expect_error(
      "listen: {postgres: '127.0.0.1:1'}\nconnections:\n  - {name: a, upstream: {host: h, "
      "database: d, user: u, tls: sometimes}}\n",
      "expected disable, prefer, require or verify-full");
  expect_error("connections: []\n", "listen.postgres is required");
  expect_error(
      "listen: {postgres: '127.0.0.1:1'}\nconnections:\n  - {name: 'bad name', upstream: "
      "{host: h, database: d, user: u}}\n",
      "connections[0].name: expected 1-63 letters");
  expect_error("listen: [\n", "not valid YAML");
}

TEST(Config, IdentityAndRoles) {
  setenv("SLUICE_TEST_PW", "s3cret", 1);
  std::string base = std::string(kGood) +
                     "  - {name: other, upstream: {host: h, database: d, "
                     "user: u, password: p}}\n";
  std::string good = base + R"(
identity:
  oidc:
    - issuer: https://idp.example
      audience: sluice
      algorithms: [RS256, EdDSA]
      clock_skew: 30s
roles:
  - name: agents
    match: {groups: [ai-agents]}
    connections: [shop]
    max_ttl: 1h
    auto_approve: {access: read, max_ttl: 15m}
    reviewers: {identities: [carol]}
)";
  auto c = parse_config(good, "/etc/sluice/sluice.yaml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  ASSERT_EQ(c->identity.oidc.size(), 1u);
  EXPECT_EQ(c->identity.oidc[0].clock_skew, Duration(30'000));
  ASSERT_NE(c->roles->find("agents"), nullptr);
  EXPECT_EQ(c->roles->find("agents")->auto_approve.max_ttl_ms, 900'000);

  auto with = [&](std::string section) { return base + section; };
  expect_error(with("identity:\n  oidc:\n    - {issuer: 'http://idp.example', audience: a, "
                    "algorithms: [RS256]}\n"),
               "https");
  expect_error(with("identity:\n  oidc:\n    - {issuer: 'https://i', audience: a, "
                    "algorithms: [HS256]}\n"),
               "'HS256' is not supported");
  expect_error(with("identity:\n  oidc:\n    - {issuer: 'https://i', audience: a}\n"),
               "algorithms");
  expect_error(with("roles:\n  - {name: r, connections: [nope], max_ttl: 1h}\n"), "nope");
  // Two providers share no namespace: each needs its own identity prefix.
  expect_error(with("identity:\n  oidc:\n    - {issuer: 'https://a', audience: s, algorithms: "
                    "[RS256]}\n    - {issuer: 'https://b', audience: s, algorithms: [RS256], "
                    "identity_prefix: 'b:'}\n"),
               "several issuers");
  expect_error(with("roles:\n  - {name: r, max_ttl: 1h}\n"), "connections");
  expect_error(with("roles:\n  - {name: r, connections: [shop], access: admin}\n"),
               "read or write");
  // The admin API off loopback carries credentials: TLS is required there.
  std::string off_loopback = good;
  off_loopback.replace(off_loopback.find("  postgres: 127.0.0.1:15432"), 27,
                       "  postgres: 127.0.0.1:15432\n  admin: 0.0.0.0:8443");
  expect_error(off_loopback, "tls");
}

TEST(Config, UnimplementedSectionsAreRefusedNotIgnored) {
  expect_error("listen: {postgres: '127.0.0.1:1'}\nmasking: {columns: []}\n",
               "masking: not supported by this build yet");
}

TEST(Config, SecretsNeverAppearInErrors) {
  setenv("SLUICE_TEST_PW", "hunter2-very-secret", 1);
  auto c = parse_config(R"(
listen: {postgres: "127.0.0.1:1"}
connections: [{name: a, upstream: {host: h, database: d, user: u, password: "${env:SLUICE_TEST_PW}", port: x}}]
)",
                        "x.yaml");
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().message().find("hunter2"), std::string::npos);
  unsetenv("SLUICE_TEST_MISSING");
  auto m = parse_config(R"(
listen: {postgres: "127.0.0.1:1"}
connections: [{name: a, upstream: {host: h, database: d, user: u, password: "${env:SLUICE_TEST_MISSING}"}}]
)",
                        "x.yaml");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("environment variable SLUICE_TEST_MISSING is not set"),
            std::string::npos);
}

TEST(Config, FileSecretsAreReadRelativeToTheConfig) {
  testing::TempDir dir("sluice-config");
  std::ofstream(dir.path() + "/pw") << "from-file\n";
  auto c = parse_config(R"(
listen: {postgres: "127.0.0.1:1"}
connections: [{name: a, upstream: {host: h, database: d, user: u, password: "${file:pw}"}}]
)",
                        dir.path() + "/sluice.yaml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->connections[0].postgres.password.reveal(), "from-file");
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration("15m"), Duration(900000));
  EXPECT_EQ(parse_duration("1h30m"), Duration(5400000));
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("2d"), Duration(172800000));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("15"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("10y"));
}

}  // namespace
}  // namespace sluice::config
