// ConnectionAnalyzer: the analyzer of one configured connection — its current catalog
// snapshot, and the cache of analyses made against it.
//
// The catalog is swapped whole when the loader refreshes it (periodically, and soon after a
// statement changed the schema); sessions keep using the snapshot they hold until their next
// statement. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "sql/analysis_cache.h"
#include "sql/catalog.h"
#include "sql/literal_shape.h"
#include "sql/pg_analyzer.h"

namespace sluice::sql {

class ConnectionAnalyzer {
 public:
  explicit ConnectionAnalyzer(std::shared_ptr<const Catalog> initial)
      : catalog_(std::move(initial)), generation_(catalog_->generation()) {}

  // The analysis of `text` against the current catalog, from the cache when possible: by the
  // exact text, then by its literal shape (for analyses that hold for any literal values).
  std::shared_ptr<const Analysis> analyze(std::string_view text) {
    // The generation alone decides a cache hit: no reference to the catalog is taken unless
    // the text is analysed.
    const std::uint64_t gen = generation_.load(std::memory_order_acquire);
    const auto key = AnalysisCache::key(text);
    if (auto hit = cache_.get(key, gen)) return hit;
    std::optional<std::string> shape;
    if (is_valid_utf8(text)) shape = literal_shape(text);
    std::optional<AnalysisCache::Key> shape_key;
    if (shape) {
      shape_key = AnalysisCache::key(*shape);
      if (auto hit = shapes_.get(*shape_key, gen)) {
        // A text that repeats often is then found without a scan. One that repeats rarely
        // costs a scan each time: admitted on any repeat, a stream of texts with literals
        // (pgbench -S in simple mode; agents that inline values) would fill the exact cache,
        // and every statement would pay for a miss in a large table and for churning it.
        cache_.put(key, hit, AnalysisCache::Window::narrow);
        return hit;
      }
    }
    auto a = std::make_shared<const Analysis>(PgAnalyzer(catalog()).analyze(text));
    cache_.put(key, a);
    if (shape_key && a->ok() && a->independent_of_literals) shapes_.put(*shape_key, a);
    return a;
  }
  // Whether an analysis made earlier (a prepared statement's) still holds.
  bool current(const Analysis& a) const {
    return a.catalog_generation == generation_.load(std::memory_order_acquire);
  }

  std::shared_ptr<const Catalog> catalog() const { return std::atomic_load(&catalog_); }
  void set_catalog(std::shared_ptr<const Catalog> c) {
    const std::uint64_t gen = c->generation();
    std::atomic_store(&catalog_, std::move(c));
    generation_.store(gen, std::memory_order_release);
    stale_.store(false);
  }
  // A statement may have changed the schema: the loader refreshes soon.
  void mark_stale() { stale_.store(true); }
  bool stale() const { return stale_.load(); }

 private:
  std::shared_ptr<const Catalog> catalog_;
  std::atomic<std::uint64_t> generation_;  // catalog_'s, readable without a lock
  AnalysisCache cache_;                    // by exact text
  AnalysisCache shapes_;                   // by literal shape
  std::atomic<bool> stale_{false};
};

}  // namespace sluice::sql
