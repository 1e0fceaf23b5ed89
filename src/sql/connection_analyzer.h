// ConnectionAnalyzer: the analyzer of one configured connection — its current catalog
// snapshot, and the cache of analyses made against it.
//
// The catalog is swapped whole when the loader refreshes it (periodically, and soon after a
// statement changed the schema); sessions keep using the snapshot they hold until their next
// statement. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "sql/analysis_cache.h"
#include "sql/catalog.h"
#include "sql/pg_analyzer.h"

namespace sluice::sql {

class ConnectionAnalyzer {
 public:
  explicit ConnectionAnalyzer(std::shared_ptr<const Catalog> initial)
      : catalog_(std::move(initial)) {}

  // The analysis of `text` against the current catalog, from the cache when possible.
  std::shared_ptr<const Analysis> analyze(std::string_view text) {
    auto cat = catalog();
    if (auto hit = cache_.get(text, cat->generation())) return hit;
    auto a = std::make_shared<const Analysis>(PgAnalyzer(cat).analyze(text));
    cache_.put(text, a);
    return a;
  }
  // Whether an analysis made earlier (a prepared statement's) still holds.
  bool current(const Analysis& a) const { return a.catalog_generation == catalog()->generation(); }

  std::shared_ptr<const Catalog> catalog() const { return std::atomic_load(&catalog_); }
  void set_catalog(std::shared_ptr<const Catalog> c) {
    std::atomic_store(&catalog_, std::move(c));
    stale_.store(false);
  }
  // A statement may have changed the schema: the loader refreshes soon.
  void mark_stale() { stale_.store(true); }
  bool stale() const { return stale_.load(); }

 private:
  std::shared_ptr<const Catalog> catalog_;
  AnalysisCache cache_;
  std::atomic<bool> stale_{false};
};

}  // namespace sluice::sql
