#include "identity/token.h"

#include <algorithm>

#include "crypto/primitives.h"

namespace sluice::identity {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string checksum(std::string_view body) {
  std::uint32_t c = crypto::crc32(body);
  std::string out(kTokenChecksumChars, '0');
  for (std::size_t i = kTokenChecksumChars; i-- > 0;) {
    out[i] = kBase62[c % 62];
    c /= 62;
  }
  return out;
}

}  // namespace

std::string generate_secret(std::string_view prefix) {
  std::string token(prefix);
  // Rejection sampling keeps every character uniform over the alphabet.
  while (token.size() < prefix.size() + kTokenRandomChars) {
    unsigned char b;
    crypto::random_bytes(&b, 1);
    if (b < 248) token += kBase62[b % 62];
  }
  token += checksum(token);
  return token;
}

Status check_secret_format(std::string_view token, std::string_view prefix, std::string_view what) {
  std::string w(what);
  if (token.size() != prefix.size() + kTokenRandomChars + kTokenChecksumChars ||
      token.substr(0, prefix.size()) != prefix)
    return error(Code::unauthenticated,
                 "not a Sluice " + w + " (expected " + std::string(prefix) + " and " +
                     std::to_string(kTokenRandomChars + kTokenChecksumChars) + " characters)");
  std::string_view rest = token.substr(prefix.size());
  if (!std::all_of(rest.begin(), rest.end(),
                   [](char c) { return kBase62.find(c) != std::string_view::npos; }))
    return error(Code::unauthenticated, "not a Sluice " + w + " (unexpected characters)");
  std::string_view body = token.substr(0, token.size() - kTokenChecksumChars);
  if (!crypto::constant_time_equal(checksum(body), token.substr(body.size())))
    return error(Code::unauthenticated,
                 "the " + w + "'s checksum does not match (mistyped or cut)");
  return Status::ok();
}

std::string generate_token() {
  return generate_secret(kTokenPrefix);
}

Status check_token_format(std::string_view token) {
  return check_secret_format(token, kTokenPrefix, "token");
}

std::string token_lookup_hash(std::string_view token) {
  return crypto::hex_encode(crypto::view(crypto::sha256(token)));
}

std::string scram_salt_for(std::string_view install_secret, std::string_view identity) {
  auto d =
      crypto::hmac_sha256(install_secret, std::string("scram-salt\0", 11) + std::string(identity));
  return std::string(crypto::view(d).substr(0, 16));
}

crypto::ScramVerifier token_verifier(std::string_view token, std::string_view salt) {
  return crypto::make_scram_verifier(token, salt, crypto::kScramDefaultIterations);
}

bool valid_identity(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

}  // namespace sluice::identity
