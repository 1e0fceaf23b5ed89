#include "identity/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace sluice::identity {
namespace {

constexpr std::string_view kUnknownKid = "the token's key id (kid) ";

// Text from an unverified token, safe to put in an error, a log line or a header: printable
// ASCII only, at most 64 characters.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
  if (s.size() > 64) out += "...";
  return out;
}

// -1 for characters outside the base64url alphabet.
int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) {
  return {k, PkeyFree{}};
}

std::shared_ptr<EVP_PKEY> rsa_key(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  if (bn_n && bn_e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) &&
      (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  BN_free(bn_n);
  BN_free(bn_e);
  return pkey ? own(pkey) : nullptr;
}

std::shared_ptr<EVP_PKEY> p256_key(const std::string& x, const std::string& y) {
  std::string point = "\x04" + x + y;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"),
                                       0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  if (!pkey) return nullptr;
  // fromdata decodes the point; the public check also rejects points not on the curve.
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  bool ok = check && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!ok) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return own(pkey);
}

std::shared_ptr<EVP_PKEY> ed25519_key(const std::string& x) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size());
  return pkey ? own(pkey) : nullptr;
}

// A JSON object's members, with duplicates refused (two parsers reading one token
// differently is how claims get smuggled).
Status members(simdjson::dom::element e, std::string_view what,
               std::vector<std::pair<std::string_view, simdjson::dom::element>>& out) {
  simdjson::dom::object obj;
  if (e.get_object().get(obj))
    return error(Code::unauthenticated, std::string(what) + " is not a JSON object");
  std::set<std::string_view> seen;
  for (auto field : obj) {
    if (!seen.insert(field.key).second)
      return error(Code::unauthenticated,
                   std::string(what) + " has the member \"" + std::string(field.key) + "\" twice");
    out.emplace_back(field.key, field.value);
  }
  return Status::ok();
}

Claim to_claim(simdjson::dom::element v) {
  Claim c;
  switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      c.type = Claim::Type::string;
      c.text = std::string(v.get_string().value_unsafe());
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      c.type = Claim::Type::number;
      c.number = v.get_double().value_unsafe();
      break;
    case simdjson::dom::element_type::BOOL:
      c.type = Claim::Type::boolean;
      c.boolean = v.get_bool().value_unsafe();
      break;
    case simdjson::dom::element_type::NULL_VALUE:
      c.type = Claim::Type::null;
      break;
    case simdjson::dom::element_type::ARRAY: {
      c.type = Claim::Type::string_array;
      simdjson::dom::array arr = v.get_array().value_unsafe();  // not a temporary's member
      for (auto item : arr) {
        std::string_view s;
        if (item.get_string().get(s)) {
          c.type = Claim::Type::other;
          c.items.clear();
          break;
        }
        c.items.emplace_back(s);
      }
      break;
    }
    default:
      c.type = Claim::Type::other;
  }
  return c;
}

Result<std::string> jwk_member(
    const std::vector<std::pair<std::string_view, simdjson::dom::element>>& m,
    std::string_view name, bool required) {
  for (const auto& [k, v] : m) {
    if (k != name) continue;
    std::string_view s;
    if (v.get_string().get(s))
      return error(Code::invalid_argument,
                   "JWK member \"" + std::string(name) + "\" is not a string");
    return std::string(s);
  }
  if (required)
    return error(Code::invalid_argument, "JWK is missing \"" + std::string(name) + "\"");
  return std::string();
}

Result<std::string> jwk_bytes(
    const std::vector<std::pair<std::string_view, simdjson::dom::element>>& m,
    std::string_view name) {
  auto s = jwk_member(m, name, true);
  if (!s) return s.status();
  auto b = base64url_decode(*s);
  if (!b || b->empty())
    return error(Code::invalid_argument,
                 "JWK member \"" + std::string(name) + "\" is not base64url");
  return std::move(*b);
}

std::optional<std::int64_t> numeric_date(const std::map<std::string, Claim>& claims,
                                         const std::string& name, Status& bad) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->second.type != Claim::Type::number || !std::isfinite(it->second.number) ||
      it->second.number < 0 || it->second.number > 1e13) {
    bad = error(Code::unauthenticated, "the \"" + name + "\" claim is not a NumericDate");
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::floor(it->second.number));
}

std::string alg_list(const std::vector<JwsAlg>& algs) {
  std::string s;
  for (auto a : algs) s += (s.empty() ? "" : ", ") + std::string(to_string(a));
  return s;
}

}  // namespace

std::string_view to_string(JwsAlg a) {
  switch (a) {
    case JwsAlg::rs256:
      return "RS256";
    case JwsAlg::es256:
      return "ES256";
    case JwsAlg::eddsa:
      return "EdDSA";
  }
  return "?";
}

std::optional<JwsAlg> parse_jws_alg(std::string_view s) {
  if (s == "RS256") return JwsAlg::rs256;
  if (s == "ES256") return JwsAlg::es256;
  if (s == "EdDSA") return JwsAlg::eddsa;
  return std::nullopt;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero: one encoding per byte string.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : data) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

Result<KeySet> parse_jwks(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(json)).get(doc))
    return error(Code::invalid_argument, "the JWKS is not valid JSON");
  std::vector<std::pair<std::string_view, simdjson::dom::element>> top;
  if (auto st = members(doc, "the JWKS", top); !st)
    return error(Code::invalid_argument, st.message());
  simdjson::dom::array keys;
  bool found = false;
  for (const auto& [k, v] : top)
    if (k == "keys") found = !v.get_array().get(keys);
  if (!found) return error(Code::invalid_argument, "the JWKS has no \"keys\" array");

  KeySet out;
  for (auto item : keys) {
    std::vector<std::pair<std::string_view, simdjson::dom::element>> m;
    if (auto st = members(item, "a JWK", m); !st)
      return error(Code::invalid_argument, st.message());
    auto kty = jwk_member(m, "kty", true);
    auto kid = jwk_member(m, "kid", false);
    auto use = jwk_member(m, "use", false);
    auto alg = jwk_member(m, "alg", false);
    if (!kty) return kty.status();
    if (!kid) return kid.status();
    if (!use) return use.status();
    if (!alg) return alg.status();
    std::string label = "key " + (kid->empty() ? std::string("(no kid)") : *kid);
    if (!use->empty() && *use != "sig") {
      out.skipped.push_back(label + ": use is " + *use);
      continue;
    }
    Jwk key;
    key.kid = *kid;
    if (*kty == "RSA") {
      auto n = jwk_bytes(m, "n");
      auto e = jwk_bytes(m, "e");
      if (!n) return n.status();
      if (!e) return e.status();
      std::size_t lead = n->find_first_not_of('\0');
      std::size_t bits = lead == std::string::npos ? 0 : (n->size() - lead) * 8;
      if (bits < 2048) {
        out.skipped.push_back(label + ": RSA key shorter than 2048 bits");
        continue;
      }
      key.alg = JwsAlg::rs256;
      key.key = rsa_key(*n, *e);
    } else if (*kty == "EC") {
      auto crv = jwk_member(m, "crv", true);
      if (!crv) return crv.status();
      if (*crv != "P-256") {
        out.skipped.push_back(label + ": curve " + *crv + " is not supported");
        continue;
      }
      auto x = jwk_bytes(m, "x");
      auto y = jwk_bytes(m, "y");
      if (!x) return x.status();
      if (!y) return y.status();
      if (x->size() != 32 || y->size() != 32)
        return error(Code::invalid_argument, label + ": P-256 coordinates must be 32 bytes");
      key.alg = JwsAlg::es256;
      key.key = p256_key(*x, *y);
    } else if (*kty == "OKP") {
      auto crv = jwk_member(m, "crv", true);
      if (!crv) return crv.status();
      if (*crv != "Ed25519") {
        out.skipped.push_back(label + ": curve " + *crv + " is not supported");
        continue;
      }
      auto x = jwk_bytes(m, "x");
      if (!x) return x.status();
      if (x->size() != 32)
        return error(Code::invalid_argument, label + ": an Ed25519 key is 32 bytes");
      key.alg = JwsAlg::eddsa;
      key.key = ed25519_key(*x);
    } else {
      out.skipped.push_back(label + ": key type " + *kty + " is not supported");
      continue;
    }
    if (!key.key) return error(Code::invalid_argument, label + ": not a valid public key");
    if (!alg->empty() && parse_jws_alg(*alg) != key.alg) {
      out.skipped.push_back(label + ": alg " + *alg + " does not fit its key type");
      continue;
    }
    out.keys.push_back(std::move(key));
  }
  return out;
}

Result<DecodedJwt> decode_jwt(std::string_view token, std::size_t max_bytes) {
  if (token.empty()) return error(Code::unauthenticated, "the bearer token is empty");
  if (token.size() > max_bytes)
    return error(Code::unauthenticated, "the token is " + std::to_string(token.size()) +
                                            " bytes, over the limit of " +
                                            std::to_string(max_bytes));
  auto dots = std::count(token.begin(), token.end(), '.');
  if (dots == 4) return error(Code::unauthenticated, "encrypted tokens (JWE) are not accepted");
  if (dots != 2) return error(Code::unauthenticated, "not a JWT (expected three base64url parts)");
  std::size_t d1 = token.find('.'), d2 = token.find('.', d1 + 1);
  auto header_raw = base64url_decode(token.substr(0, d1));
  auto payload_raw = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!header_raw || !payload_raw || !sig)
    return error(Code::unauthenticated, "the token is not valid base64url");

  DecodedJwt out;
  simdjson::dom::parser parser;
  simdjson::dom::element header;
  if (parser.parse(simdjson::padded_string(*header_raw)).get(header))
    return error(Code::unauthenticated, "the token header is not valid JSON");
  std::vector<std::pair<std::string_view, simdjson::dom::element>> hm;
  SLUICE_TRY(members(header, "the token header", hm));
  bool have_alg = false;
  for (const auto& [k, v] : hm) {
    if (k == "jwk" || k == "jku" || k == "x5u" || k == "x5c")
      return error(Code::unauthenticated, "the token header carries its own key (\"" +
                                              std::string(k) +
                                              "\"); keys come only from the issuer's JWKS");
    if (k == "crit" || k == "b64" || k == "zip" || k == "enc")
      return error(Code::unauthenticated,
                   "the token header uses \"" + std::string(k) + "\", which is not supported");
    if (k == "alg" || k == "kid" || k == "typ") {
      std::string_view s;
      if (v.get_string().get(s))
        return error(Code::unauthenticated,
                     "the token header's \"" + std::string(k) + "\" is not a string");
      (k == "alg" ? out.alg : k == "kid" ? out.kid : out.typ) = std::string(s);
      have_alg |= k == "alg";
    }
  }
  if (!have_alg) return error(Code::unauthenticated, "the token header has no \"alg\"");
  if (!out.typ.empty()) {
    std::string t = out.typ;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t.rfind("application/", 0) == 0) t = t.substr(12);
    if (t != "jwt" && t != "at+jwt")
      return error(Code::unauthenticated, "the token type \"" + shown(out.typ) + "\" is not a JWT");
  }

  simdjson::dom::element payload;
  simdjson::dom::parser parser2;
  if (parser2.parse(simdjson::padded_string(*payload_raw)).get(payload))
    return error(Code::unauthenticated, "the token payload is not valid JSON");
  std::vector<std::pair<std::string_view, simdjson::dom::element>> pm;
  SLUICE_TRY(members(payload, "the token payload", pm));
  for (const auto& [k, v] : pm) out.claims.emplace(std::string(k), to_claim(v));
  out.signing_input = std::string(token.substr(0, d2));
  out.signature = std::move(*sig);
  return out;
}

bool verify_jws_signature(const Jwk& key, std::string_view input, std::string_view sig) {
  std::string der;
  const EVP_MD* md = EVP_sha256();
  if (key.alg == JwsAlg::es256) {
    if (sig.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(es);
      return false;
    }
    unsigned char* p = nullptr;
    int len = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<char*>(p), static_cast<std::size_t>(len));
    OPENSSL_free(p);
    sig = der;
  } else if (key.alg == JwsAlg::eddsa) {
    if (sig.size() != 64) return false;
    md = nullptr;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key.key.get()) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Status verify_jwt(const DecodedJwt& jwt, const JwtPolicy& policy, const KeySet& keys,
                  std::int64_t now_s) {
  // 1. The algorithm: pinned, and never "none" or a symmetric one.
  auto alg = parse_jws_alg(jwt.alg);
  if (!alg || std::find(policy.algorithms.begin(), policy.algorithms.end(), *alg) ==
                  policy.algorithms.end())
    return error(Code::unauthenticated, "the token's algorithm \"" + shown(jwt.alg) +
                                            "\" is not accepted for issuer " + policy.issuer +
                                            " (accepted: " + alg_list(policy.algorithms) + ")");
  // 2. The key: by kid, of the type the algorithm needs.
  const Jwk* key = nullptr;
  std::size_t candidates = 0;
  for (const auto& k : keys.keys) {
    if (k.alg != *alg) continue;
    ++candidates;
    if (k.kid == jwt.kid) key = &k;
  }
  if (!key && jwt.kid.empty() && candidates == 1)
    for (const auto& k : keys.keys)
      if (k.alg == *alg) key = &k;
  if (!key) {
    if (jwt.kid.empty())
      return error(Code::unauthenticated, "the token has no key id (kid) and the issuer has " +
                                              std::to_string(candidates) + " " + jwt.alg + " keys");
    return error(Code::unauthenticated, std::string(kUnknownKid) + "\"" + shown(jwt.kid) +
                                            "\" is not among issuer " + policy.issuer + "'s " +
                                            jwt.alg + " keys");
  }
  // 3. The signature.
  if (!verify_jws_signature(*key, jwt.signing_input, jwt.signature))
    return error(Code::unauthenticated, "the token's signature does not verify");

  // 4. The claims.
  auto string_claim = [&](const char* name) -> const Claim* {
    auto it = jwt.claims.find(name);
    return it == jwt.claims.end() ? nullptr : &it->second;
  };
  const Claim* iss = string_claim("iss");
  if (!iss || iss->type != Claim::Type::string || iss->text != policy.issuer)
    return error(Code::unauthenticated, "the token's issuer (iss) is not " + policy.issuer);
  const Claim* aud = string_claim("aud");
  bool aud_ok = false;
  if (aud && aud->type == Claim::Type::string) aud_ok = aud->text == policy.audience;
  if (aud && aud->type == Claim::Type::string_array)
    aud_ok = std::find(aud->items.begin(), aud->items.end(), policy.audience) != aud->items.end();
  if (!aud_ok)
    return error(Code::unauthenticated,
                 "the token's audience (aud) does not include " + policy.audience);
  Status bad;
  auto exp = numeric_date(jwt.claims, "exp", bad);
  auto nbf = numeric_date(jwt.claims, "nbf", bad);
  auto iat = numeric_date(jwt.claims, "iat", bad);
  if (!bad.is_ok()) return bad;
  if (!exp) return error(Code::unauthenticated, "the token has no expiry (exp)");
  if (now_s >= *exp + policy.clock_skew_s)
    return error(Code::unauthenticated,
                 "the token expired " + std::to_string(now_s - *exp) + "s ago");
  if (nbf && now_s + policy.clock_skew_s < *nbf)
    return error(Code::unauthenticated, "the token is not valid yet (nbf is " +
                                            std::to_string(*nbf - now_s) + "s in the future)");
  if (iat && now_s + policy.clock_skew_s < *iat)
    return error(Code::unauthenticated, "the token was issued in the future (iat)");
  if (*exp - now_s > policy.max_lifetime_s + policy.clock_skew_s)
    return error(Code::unauthenticated, "the token expires more than " +
                                            std::to_string(policy.max_lifetime_s) +
                                            "s from now (max_token_lifetime)");
  if (iat && *exp - *iat > policy.max_lifetime_s)
    return error(Code::unauthenticated, "the token's lifetime (exp - iat) is longer than " +
                                            std::to_string(policy.max_lifetime_s) + "s");
  return Status::ok();
}

bool is_unknown_kid(const Status& s) {
  return !s.is_ok() && s.message().rfind(kUnknownKid, 0) == 0;
}

}  // namespace sluice::identity
