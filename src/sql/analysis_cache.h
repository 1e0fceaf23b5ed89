// AnalysisCache: analyses by the exact statement text, valid for one catalog generation.
//
// The key is the text byte for byte (DESIGN.md, "Keys": libpg_query's fingerprint ignores
// constants and must not be a key). An entry from an older catalog generation is a miss; a
// later put of its text replaces it (at once, unless its sighting slot was taken since: then
// on the put after). A text is admitted on its second sighting: statements with literals that
// never repeat (pgbench -S in simple mode, most ad-hoc SQL) would otherwise evict the ones
// that do and pay for insertion and eviction every time. Sharded by hash, each shard with its
// own lock, oldest admitted entry evicted first. Thread-safe.
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

  // A text and its hash, computed once (only by key(), so the two always agree) for a get and
  // the put that usually follows a miss.
  class Key {
   public:
    std::string_view text() const { return text_; }
    std::size_t hash() const { return hash_; }

   private:
    friend class AnalysisCache;
    Key(std::string_view text, std::size_t hash) : text_(text), hash_(hash) {}
    std::string_view text_;
    std::size_t hash_;
  };
  static Key key(std::string_view text) { return Key(text, std::hash<std::string_view>{}(text)); }

  std::shared_ptr<const Analysis> get(const Key& k, std::uint64_t generation) {
    Shard& s = shard(k);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(k);
    if (it == s.map.end() || it->second->catalog_generation != generation) return nullptr;
    return it->second;
  }

  // Admits `k` on its second sighting, or replaces its entry (one from an older catalog
  // generation). A first sighting costs no map lookup: most texts with literals are never
  // seen again.
  void put(const Key& k, std::shared_ptr<const Analysis> a) {
    Shard& s = shard(k);
    std::lock_guard lock(s.mu);
    std::size_t& seen = s.seen[(k.hash() / kShards) % kSeenSlots];
    if (seen != k.hash()) {  // first sighting (or its slot was taken since): remember it only
      seen = k.hash();
      return;
    }
    auto it = s.map.find(k);
    if (it != s.map.end()) {
      it->second = std::move(a);
      return;
    }
    if (s.map.size() >= per_shard_) {
      auto oldest = s.map.find(s.order.front());
      if (oldest != s.map.end()) s.map.erase(oldest);
      s.order.pop_front();
    }
    auto pos = s.map.emplace(std::string(k.text()), std::move(a));
    s.order.push_back(pos.first->first);  // node keys do not move
  }

 private:
  // Lookups by Key reuse its hash; the map hashes a string_view only to rehash its nodes.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    std::size_t operator()(const Key& k) const { return k.hash(); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const Key& a, std::string_view b) const { return a.text() == b; }
    bool operator()(std::string_view a, const Key& b) const { return a == b.text(); }
  };
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kSeenSlots = 4096;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<const Analysis>, Hash, Eq> map;
    std::deque<std::string_view> order;  // admission order, keys owned by `map`
    std::array<std::size_t, kSeenSlots> seen{};
  };
  Shard& shard(const Key& k) { return shards_[k.hash() % kShards]; }

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::sql
