// AnalysisCache: analyses by the exact statement text, valid for one catalog generation.
//
// The key is the text byte for byte (DESIGN.md, "Keys": libpg_query's fingerprint ignores
// constants and must not be a key). An entry from an older catalog generation is a miss; a
// later put of its text replaces it (at once, unless its sighting slot was taken since: then
// on the put after). A text is admitted on its second sighting: statements with literals that
// never repeat (pgbench -S in simple mode, most ad-hoc SQL) would otherwise evict the ones
// that do and pay for insertion and eviction every time. How recent that sighting must be is
// the caller's choice (Window): a text whose miss costs a full analysis is worth remembering
// across some 65,000 statements; one whose analysis another cache holds (under its literal
// shape, where a miss costs a scan) only when it repeats within some 4,000. Sharded by hash,
// each shard with its own lock, oldest admitted entry evicted first. Thread-safe.
#pragma once

#include <array>
#include <atomic>
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

  // How recent a text's first sighting must be for a second to admit it, in statements (of
  // all texts put): about kShards * the slots of the window.
  enum class Window : std::uint8_t { wide, narrow };

  // Admits `k` on its second sighting, or replaces its entry (one from an older catalog
  // generation). A first sighting costs no map lookup: most texts with literals are never
  // seen again.
  void put(const Key& k, std::shared_ptr<const Analysis> a, Window window = Window::wide) {
    Shard& s = shard(k);
    // The sighting slots are hints, read and written without the lock: a race between two
    // texts for one slot costs at most one admission, early or late.
    std::atomic<std::size_t>& seen = window == Window::wide
                                         ? s.seen[(k.hash() / kShards) % kSeenSlots]
                                         : s.seen_recently[(k.hash() / kShards) % kRecentSlots];
    if (seen.load(std::memory_order_relaxed) != k.hash()) {
      // A first sighting (or its slot was taken since): remember it only.
      seen.store(k.hash(), std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(s.mu);
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
  static constexpr std::size_t kRecentSlots = 256;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<const Analysis>, Hash, Eq> map;
    std::deque<std::string_view> order;  // admission order, keys owned by `map`
    std::array<std::atomic<std::size_t>, kSeenSlots> seen{};             // Window::wide
    std::array<std::atomic<std::size_t>, kRecentSlots> seen_recently{};  // Window::narrow
  };
  Shard& shard(const Key& k) { return shards_[k.hash() % kShards]; }

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::sql
