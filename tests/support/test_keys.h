// Signing keys made with OpenSSL and JWTs signed with them, for the JWT unit tests and the
// identity benchmark: the validator is tested against tokens it did not make itself.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>
#include <string>

#include "identity/jwt.h"

namespace sluice::testing {

using identity::base64url_encode;

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

inline std::string bn_param(EVP_PKEY* k, const char* name, std::size_t pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) return {};
  std::string out(std::max<std::size_t>(pad, BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

struct TestKey {
  PKey key{nullptr, EVP_PKEY_free};
  std::string alg, kid, jwk;
};

inline TestKey rsa_key(std::string kid, int bits = 2048) {
  TestKey t;
  t.key.reset(EVP_RSA_gen(bits));
  t.alg = "RS256";
  t.kid = kid;
  t.jwk = R"({"kty":"RSA","kid":")" + kid + R"(","use":"sig","n":")" +
          base64url_encode(bn_param(t.key.get(), OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
          base64url_encode(bn_param(t.key.get(), OSSL_PKEY_PARAM_RSA_E)) + R"("})";
  return t;
}

inline TestKey ec_key(std::string kid) {
  TestKey t;
  t.key.reset(EVP_EC_gen("P-256"));
  t.alg = "ES256";
  t.kid = kid;
  t.jwk = R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"(","x":")" +
          base64url_encode(bn_param(t.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
          base64url_encode(bn_param(t.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("})";
  return t;
}

inline TestKey ed_key(std::string kid) {
  TestKey t;
  t.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  t.alg = "EdDSA";
  t.kid = kid;
  std::string pub(32, '\0');
  std::size_t len = pub.size();
  EVP_PKEY_get_raw_public_key(t.key.get(), reinterpret_cast<unsigned char*>(pub.data()), &len);
  t.jwk = R"({"kty":"OKP","crv":"Ed25519","kid":")" + kid + R"(","x":")" + base64url_encode(pub) +
          R"("})";
  return t;
}

inline std::string sign(const TestKey& k, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* md = k.alg == "EdDSA" ? nullptr : EVP_sha256();
  EVP_DigestSignInit(ctx, nullptr, md, nullptr, k.key.get());
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSign(ctx, nullptr, &len, in, input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (k.alg == "ES256") {  // DER -> raw r||s
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return sig;
}

// A compact JWS: header (default: alg, typ at+jwt, kid of `k`) and payload as given.
inline std::string make_token(const TestKey& k, const std::string& payload,
                              std::string header = "") {
  if (header.empty())
    header = R"({"alg":")" + k.alg + R"(","typ":"at+jwt","kid":")" + k.kid + R"("})";
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign(k, input));
}

}  // namespace sluice::testing
