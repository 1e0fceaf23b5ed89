// JWT validation against keys generated here with OpenSSL: valid tokens of each pinned
// algorithm pass; each forgery or invalid claim fails with its own reason.
#include "identity/jwt.h"

#include <gtest/gtest.h>

#include <ctime>
#include <memory>

#include "crypto/primitives.h"
#include "support/test_keys.h"

namespace sluice::identity {
namespace {

using namespace sluice::testing;

constexpr const char* kIss = "https://idp.example";
const std::int64_t kNow = 1'800'000'000;

std::string claims(std::int64_t exp_delta = 300, std::string extra = "") {
  return R"({"iss":")" + std::string(kIss) + R"(","aud":"sluice","sub":"agent-1","iat":)" +
         std::to_string(kNow - 10) + R"(,"exp":)" + std::to_string(kNow + exp_delta) + extra + "}";
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto set = parse_jwks(R"({"keys":[)" + rs.jwk + "," + es.jwk + "," + ed.jwk + "]}");
    ASSERT_TRUE(set.is_ok()) << set.status().message();
    keys = std::move(*set);
    ASSERT_EQ(keys.keys.size(), 3u);
    policy.issuer = kIss;
    policy.audience = "sluice";
    policy.algorithms = {JwsAlg::rs256, JwsAlg::es256, JwsAlg::eddsa};
  }

  // The reason a token is refused, or "" when it passes.
  std::string check(const std::string& token) {
    auto d = decode_jwt(token, 16384);
    if (!d) return d.status().message();
    Status st = verify_jwt(*d, policy, keys, kNow);
    return st.is_ok() ? "" : st.message();
  }

  TestKey rs = rsa_key("rs-1");
  TestKey es = ec_key("es-1");
  TestKey ed = ed_key("ed-1");
  KeySet keys;
  JwtPolicy policy;
};

TEST_F(JwtTest, ValidTokensOfEachAlgorithmPass) {
  for (const TestKey* k : {&rs, &es, &ed}) EXPECT_EQ(check(make_token(*k, claims())), "") << k->alg;
  // aud may be a list; exp within the skew still passes.
  EXPECT_EQ(check(make_token(rs, R"({"iss":"https://idp.example","aud":["x","sluice"],"exp":)" +
                                     std::to_string(kNow - 30) + "}")),
            "");
}

TEST_F(JwtTest, TheHeaderAlgNeverChooses) {
  std::string body = base64url_encode(claims());
  auto with_header = [&](const std::string& h, const std::string& sig) {
    return base64url_encode(h) + "." + body + "." + base64url_encode(sig);
  };
  EXPECT_NE(check(with_header(R"({"alg":"none","kid":"rs-1"})", "")).find("\"none\""),
            std::string::npos);
  // HS256 keyed with the RSA public key (key confusion): refused before any HMAC is computed.
  std::string input = base64url_encode(R"({"alg":"HS256","kid":"rs-1"})") + "." + body;
  auto mac = crypto::hmac_sha256(rs.jwk, input);
  EXPECT_NE(check(input + "." + base64url_encode(std::string(crypto::view(mac)))).find("HS256"),
            std::string::npos);
  // An algorithm that is supported but not pinned for this issuer.
  policy.algorithms = {JwsAlg::rs256};
  EXPECT_NE(check(make_token(es, claims())).find("not accepted"), std::string::npos);
  // An ES256 header on an RSA kid finds no key of that type.
  std::string h = R"({"alg":"ES256","kid":"rs-1"})";
  policy.algorithms = {JwsAlg::rs256, JwsAlg::es256};
  EXPECT_NE(check(make_token(es, claims(), h)).find("is not among"), std::string::npos);
}

TEST_F(JwtTest, KeysComeOnlyFromTheJwks) {
  TestKey attacker = rsa_key("rs-1");  // same kid, different key
  EXPECT_EQ(check(make_token(attacker, claims())), "the token's signature does not verify");
  for (const char* member : {"jwk", "jku", "x5u", "x5c"}) {
    std::string h = R"({"alg":"RS256","kid":"rs-1",")" + std::string(member) +
                    (std::string(member) == "jwk" ? R"(":)" + attacker.jwk : R"(":"x")") + "}";
    EXPECT_NE(check(make_token(attacker, claims(), h)).find("carries its own key"),
              std::string::npos)
        << member;
  }
  TestKey stranger = rsa_key("rs-2");
  std::string why = check(make_token(stranger, claims()));
  EXPECT_NE(why.find("\"rs-2\" is not among"), std::string::npos) << why;
  auto d = decode_jwt(make_token(stranger, claims()), 16384);
  EXPECT_TRUE(is_unknown_kid(verify_jwt(*d, policy, keys, kNow)));
}

TEST_F(JwtTest, ClaimsAreChecked) {
  EXPECT_NE(check(make_token(rs, claims(-600))).find("expired"), std::string::npos);
  EXPECT_NE(check(make_token(rs, claims(300, ",\"nbf\":" + std::to_string(kNow + 3600))))
                .find("not valid yet"),
            std::string::npos);
  std::string wrong_aud =
      R"({"iss":"https://idp.example","aud":"other","exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_NE(check(make_token(rs, wrong_aud)).find("audience"), std::string::npos);
  std::string wrong_iss =
      R"({"iss":"https://evil.example","aud":"sluice","exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_NE(check(make_token(rs, wrong_iss)).find("issuer"), std::string::npos);
  std::string no_exp = R"({"iss":"https://idp.example","aud":"sluice"})";
  EXPECT_NE(check(make_token(rs, no_exp)).find("no expiry"), std::string::npos);
  EXPECT_NE(check(make_token(rs, claims(3 * 86400))).find("lifetime"), std::string::npos);
}

TEST_F(JwtTest, ClaimsAreStrictlyTyped) {
  std::string string_exp =
      R"({"iss":"https://idp.example","aud":"sluice","exp":")" + std::to_string(kNow + 60) + "\"}";
  EXPECT_NE(check(make_token(rs, string_exp)).find("NumericDate"), std::string::npos);
  std::string numeric_aud =
      R"({"iss":"https://idp.example","aud":7,"exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_NE(check(make_token(rs, numeric_aud)).find("audience"), std::string::npos);
  // Duplicate members: which one a parser keeps differs, so the token is refused.
  std::string twice = R"({"iss":"https://idp.example","aud":"sluice","exp":)" +
                      std::to_string(kNow - 9999) + ",\"exp\":" + std::to_string(kNow + 60) + "}";
  EXPECT_NE(check(make_token(rs, twice)).find("\"exp\""), std::string::npos);
}

TEST_F(JwtTest, MalformedTokensAreRefusedBeforeAnyCrypto) {
  std::string good = make_token(rs, claims());
  auto d = decode_jwt(good, 100);
  ASSERT_FALSE(d.is_ok());
  EXPECT_NE(d.status().message().find("over the limit"), std::string::npos);
  EXPECT_NE(check("a.b").find("three"), std::string::npos);
  EXPECT_NE(check("a.b.c.d.e").find("JWE"), std::string::npos);
  EXPECT_NE(check(good + "=").find("base64url"), std::string::npos);
  std::string plus = good;
  plus[plus.size() - 3] = '+';
  EXPECT_NE(check(plus).find("base64url"), std::string::npos);
  EXPECT_NE(
      check(base64url_encode("[1]") + "." + base64url_encode("{}") + ".").find("not a JSON object"),
      std::string::npos);
  EXPECT_NE(check(make_token(rs, claims(), R"({"alg":"RS256","kid":"rs-1","crit":["exp"]})"))
                .find("crit"),
            std::string::npos);
  EXPECT_NE(check(make_token(rs, claims(), R"({"alg":"RS256","kid":"rs-1","typ":"JWE"})"))
                .find("not a JWT"),
            std::string::npos);
}

TEST(Jwks, WeakOrForeignKeysAreSkippedAndBrokenOnesRefused) {
  TestKey small = rsa_key("small", 1024);
  auto set = parse_jwks(R"({"keys":[)" + small.jwk +
                        R"(,{"kty":"oct","k":"c2VjcmV0","kid":"sym"},)"
                        R"({"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"}]})");
  ASSERT_TRUE(set.is_ok()) << set.status().message();
  EXPECT_TRUE(set->keys.empty());
  EXPECT_EQ(set->skipped.size(), 3u);
  // A point that is not on the curve.
  std::string off_curve = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"bad","x":")" +
                          base64url_encode(std::string(32, '\1')) + R"(","y":")" +
                          base64url_encode(std::string(32, '\2')) + R"("}]})";
  EXPECT_FALSE(parse_jwks(off_curve).is_ok());
  EXPECT_FALSE(parse_jwks("not json").is_ok());
  EXPECT_FALSE(parse_jwks(R"({"nokeys":[]})").is_ok());
}

TEST(Base64Url, RoundTripsAndIsStrict) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"})
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  EXPECT_FALSE(base64url_decode("Zm9v=").has_value());
  EXPECT_FALSE(base64url_decode("Zm+v").has_value());
  EXPECT_FALSE(base64url_decode("Z").has_value());
}

}  // namespace
}  // namespace sluice::identity
