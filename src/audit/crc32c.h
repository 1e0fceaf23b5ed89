// CRC32C (Castagnoli), the checksum of audit log frames, as in LevelDB's log format. Uses the
// SSE4.2 instruction when the CPU has it, a table otherwise; both give the same values.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::audit {

std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

// Stored checksums are masked (as LevelDB does) so that a CRC of data that itself contains
// CRCs does not degenerate.
inline std::uint32_t mask_crc(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline std::uint32_t unmask_crc(std::uint32_t masked) {
  std::uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace sluice::audit
