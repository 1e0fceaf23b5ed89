// Just-in-time tokens: `slc_` + 40 base62 characters of randomness + a 6-character base62
// CRC-32 of everything before it. The prefix and checksum let secret scanners find leaked
// tokens and let the gateway reject typos without a store lookup.
//
// A token is shown once and stored only as a lookup hash (cleartext logins over TLS) and a
// SCRAM-SHA-256 verifier (SCRAM logins). The verifier's salt is the identity's, derived from
// the store's install secret, so several live tokens of one identity can be tried against a
// single SCRAM exchange and an unknown identity gets a salt indistinguishable from a known one.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "crypto/scram.h"

namespace sluice::identity {

inline constexpr std::string_view kTokenPrefix = "slc_";
inline constexpr std::size_t kTokenRandomChars = 40;
inline constexpr std::size_t kTokenChecksumChars = 6;
inline constexpr std::size_t kTokenLength =
    kTokenPrefix.size() + kTokenRandomChars + kTokenChecksumChars;

// A prefixed random secret with a checksum: `slc_` tokens, `slk_` API keys.
std::string generate_secret(std::string_view prefix);
Status check_secret_format(std::string_view secret, std::string_view prefix, std::string_view what);

std::string generate_token();
// Ok when `token` has the prefix, length, alphabet and a matching checksum.
Status check_token_format(std::string_view token);

std::string token_lookup_hash(std::string_view token);
std::string scram_salt_for(std::string_view install_secret, std::string_view identity);
crypto::ScramVerifier token_verifier(std::string_view token, std::string_view salt);

// Identities are printable ASCII without spaces, at most 128 characters (user names, e-mail
// addresses, service names).
bool valid_identity(std::string_view identity);

}  // namespace sluice::identity
