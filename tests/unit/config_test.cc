#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace sluice::config {
namespace {

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
  char dir[] = "/tmp/sluice-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::ofstream(std::string(dir) + "/pw") << "from-file\n";
  auto c = parse_config(R"(
listen: {postgres: "127.0.0.1:1"}
connections: [{name: a, upstream: {host: h, database: d, user: u, password: "${file:pw}"}}]
)",
                        std::string(dir) + "/sluice.yaml");
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
