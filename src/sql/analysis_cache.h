// AnalysisCache: analyses by the exact statement text, valid for one catalog generation.
//
// The key is the text byte for byte (DESIGN.md, "Keys": libpg_query's fingerprint ignores
// constants and must not be a key). An entry from an older catalog generation is a miss and
// is replaced. A text is admitted on its second sighting: statements with literals that
// never repeat (pgbench -S in simple mode, most ad-hoc SQL) would otherwise evict the ones
// that do and pay for insertion and eviction every time. Sharded by hash, each shard with
// its own lock, oldest admitted entry evicted first. Thread-safe.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sql/facts.h"

namespace sluice::sql {

class AnalysisCache {
 public:
  explicit AnalysisCache(std::size_t capacity = 16384) : per_shard_(capacity / kShards + 1) {}

  std::shared_ptr<const Analysis> get(std::string_view text, std::uint64_t generation) {
    std::size_t h = std::hash<std::string_view>{}(text);
    Shard& s = shards_[h % kShards];
    std::lock_guard lock(s.mu);
    auto it = s.map.find(text);
    if (it == s.map.end() || it->second->catalog_generation != generation) return nullptr;
    return it->second;
  }

  void put(std::string_view text, std::shared_ptr<const Analysis> a) {
    std::size_t h = std::hash<std::string_view>{}(text);
    Shard& s = shards_[h % kShards];
    std::lock_guard lock(s.mu);
    auto it = s.map.find(text);
    if (it != s.map.end()) {
      it->second = std::move(a);
      return;
    }
    std::size_t& seen = s.seen[(h / kShards) % kSeenSlots];
    if (seen != h) {  // first sighting: remember it, do not cache yet
      seen = h;
      return;
    }
    if (s.map.size() >= per_shard_) {
      auto oldest = s.map.find(s.order.front());
      if (oldest != s.map.end()) s.map.erase(oldest);
      s.order.pop_front();
    }
    auto pos = s.map.emplace(std::string(text), std::move(a));
    s.order.push_back(pos.first->first);  // node keys do not move
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kSeenSlots = 4096;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<const Analysis>, Hash, Eq> map;
    std::deque<std::string_view> order;  // admission order, keys owned by `map`
    std::array<std::size_t, kSeenSlots> seen{};
  };
  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::sql
