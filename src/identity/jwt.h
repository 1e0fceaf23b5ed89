// JWT access tokens (RFC 7519, JWS compact serialization, RFC 7515): decoding, public keys
// from a JWK set (RFC 7517), signature and claim checks.
//
// The rules, each of which has an attack behind it (SECURITY.md):
// - The algorithm is pinned per issuer and implied by the key; the token's `alg` header is
//   only checked against it, never used to choose (no `none`, no HS256 keyed with a public
//   key).
// - Keys come only from the issuer's JWKS: `jwk`, `jku`, `x5u` and `x5c` headers are refused,
//   as are `crit` and JWE (five-part) tokens.
// - Every part is strict: base64url without padding, JSON objects without duplicate members,
//   claims of the registered types (a string `exp` is an error, not "no expiry").
// - RSA keys are at least 2048 bits; EC keys are on P-256 (the point is checked); Ed25519 only.
// Pure functions: no I/O, no clock (the time is passed in).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace sluice::identity {

enum class JwsAlg : std::uint8_t { rs256, es256, eddsa };
std::string_view to_string(JwsAlg a);
std::optional<JwsAlg> parse_jws_alg(std::string_view s);

// One public verification key from a JWKS.
struct Jwk {
  std::string kid;             // may be empty
  JwsAlg alg = JwsAlg::rs256;  // what the key type implies
  std::shared_ptr<EVP_PKEY> key;
};

// Parses a JWK set. Keys this code cannot or must not use (encryption keys, other key types
// and curves, short RSA keys) are skipped and named in `skipped`; a malformed document or
// a malformed key of a supported type is an error.
struct KeySet {
  std::vector<Jwk> keys;
  std::vector<std::string> skipped;
};
Result<KeySet> parse_jwks(std::string_view json);

// A claim value, as typed in the token.
struct Claim {
  enum class Type : std::uint8_t { string, number, boolean, string_array, null, other };
  Type type = Type::other;
  std::string text;                // string
  double number = 0;               // number
  bool boolean = false;            // boolean
  std::vector<std::string> items;  // string_array
};

struct DecodedJwt {
  std::string alg;
  std::string kid;
  std::string typ;
  std::map<std::string, Claim> claims;
  std::string signing_input;  // header.payload, as received
  std::string signature;      // raw bytes
};

// Splits and decodes a compact JWS; checks sizes, encoding, JSON and forbidden headers.
// Does not verify anything cryptographic.
Result<DecodedJwt> decode_jwt(std::string_view token, std::size_t max_bytes);

// Verifies the signature with `key` under `alg` (raw r||s for ES256).
bool verify_jws_signature(const Jwk& key, std::string_view signing_input,
                          std::string_view signature);

// What the checks are against.
struct JwtPolicy {
  std::string issuer;
  std::string audience;
  std::vector<JwsAlg> algorithms;           // pinned
  std::int64_t clock_skew_s = 60;           // allowed for exp, nbf, iat
  std::int64_t max_lifetime_s = 24 * 3600;  // exp - iat, when iat is present
};

// The checks after decoding: header alg against the pinned list and the key, the key by
// kid, the signature, then iss, aud, exp, nbf, iat. `now_s` in seconds since the epoch.
// The error says which check failed, for the caller to return to the client.
Status verify_jwt(const DecodedJwt& jwt, const JwtPolicy& policy, const KeySet& keys,
                  std::int64_t now_s);

// True when the only failure is a kid the key set does not have (the caller may refresh
// the JWKS once and retry).
bool is_unknown_kid(const Status& s);

// base64url without padding (RFC 7515 §2), strict.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view data);

}  // namespace sluice::identity
