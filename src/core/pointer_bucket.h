// pointer_bucket: which of 2^Bits buckets an address falls in, for small tables keyed by
// the address of a live object (the audit recorder's session shards, the audit writer's
// packed analyses). Fibonacci hashing: the multiply spreads the address's middle bits (heap
// addresses share their low, aligned bits and their high ones) into the top bits taken.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice {

template <int Bits>
std::size_t pointer_bucket(const void* p) {
  static_assert(Bits > 0 && Bits < 64);
  return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(p) * 0x9e3779b97f4a7c15ull) >>
                                  (64 - Bits));
}

}  // namespace sluice
