#include "core/bytes.h"

#include <simdjson.h>

#include <cstdint>
#include <cstring>

namespace sluice {

// Most text on the data path is short ASCII: it is checked eight bytes at a time, and only
// what follows the first non-ASCII byte goes to simdjson's validator (strict: no overlong
// forms, no surrogates, nothing above U+10FFFF), whose dispatch costs more than the check
// for short strings.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    if (v & 0x8080808080808080ull) break;
  }
  for (; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) & 0x80)
      return simdjson::validate_utf8(s.data() + i, s.size() - i);
  return true;
}

}  // namespace sluice
