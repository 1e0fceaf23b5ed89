// Cryptographic primitives over OpenSSL 3, with the small encodings around them.
//
// Stateless and thread-safe. Every function that can fail reports it in its return value;
// none of them throws or aborts on bad input.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::crypto {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view data);
Digest pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations);
// Hex MD5 as PostgreSQL uses it ("md5" + hex(md5(x))): 32 lowercase hex digits.
std::string md5_hex(std::string_view data);

// Cryptographically secure random bytes. Aborts the process if the system RNG fails, since
// nothing secure can be done without it.
void random_bytes(void* out, std::size_t n);
std::string random_string(std::size_t n);  // n raw random bytes
std::uint32_t random_u32();

// Compares in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);  // strict, padded
std::string hex_encode(std::string_view data);

inline std::string_view view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// CRC-32 (IEEE 802.3, reflected, as zlib computes it): token checksums.
std::uint32_t crc32(std::string_view data);

}  // namespace sluice::crypto
