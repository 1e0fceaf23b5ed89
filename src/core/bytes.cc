#include "core/bytes.h"

#include <cstdint>
#include <cstring>

namespace sluice {

namespace {

// From the first non-ASCII byte on: strict UTF-8 (no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool valid_utf8_tail(const unsigned char* p, const unsigned char* end) {
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (end - p <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int i = 2; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += n + 1;
  }
  return true;
}

}  // namespace

// Most text on the data path is ASCII: it is checked eight bytes at a time, and the byte
// by byte check starts at the first block with a non-ASCII byte.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    if (v & 0x8080808080808080ull) break;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  return valid_utf8_tail(p + i, p + s.size());
}

}  // namespace sluice
