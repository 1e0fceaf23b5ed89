// Catalog: how names in a statement resolve on the server.
//
// The analyzer asks the catalog which relation an unqualified name means under the pinned
// search path, which columns a relation has (to expand `*` and whole-row references), what a
// view reads underneath, which parent a partition or inheritance child answers to, and in
// which schema a function name resolves. Two implementations:
//  - SnapshotCatalog: read from the upstream server (catalog_loader.h), complete: a name it
//    does not know does not exist. Immutable once built; shared by all sessions.
//  - OfflineCatalog: no server; resolves by PostgreSQL's rules without knowing what exists
//    (`sluice policy check` without --live). Columns are unknown.
// Both are thread-safe (immutable).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sql/facts.h"

namespace sluice::sql {

struct RelationInfo {
  std::string schema;
  std::string name;
  char kind =
      'r';  // r table, p partitioned table, v view, m materialized view, f foreign, S sequence
  std::vector<std::string> columns;  // in order; empty when unknown
  bool columns_known = false;
  std::string
      policy_relation;  // schema.table whose policy applies (a partition's root); "" = itself
  // Views: the relations the definition reads and, per output column, what it reads.
  std::vector<std::string> view_reads;
  std::vector<OutputColumn> view_outputs;
  std::string view_definition;  // SELECT text, names qualified (for the loader)
  // Views: the definition could not be analysed, so what the view reads is unknown; a
  // statement that reads it is refused rather than attributed to the view alone.
  std::string lineage_error;

  std::string qualified() const { return schema + "." + name; }
  bool is_view() const { return kind == 'v' || kind == 'm'; }
};

class Catalog {
 public:
  virtual ~Catalog() = default;
  // `schema` empty: search pg_temp (if the session has temp tables), pg_catalog, then the
  // search path, as the server does. nullptr when the relation does not exist.
  virtual std::shared_ptr<const RelationInfo> find_relation(std::string_view schema,
                                                            std::string_view name) const = 0;
  // The schema holding the function the server would call; "" when there is none.
  virtual std::string function_schema(std::string_view schema, std::string_view name) const = 0;
  virtual std::uint64_t generation() const = 0;
  // True when the catalog lists everything that exists (a live snapshot).
  virtual bool complete() const = 0;
  virtual const std::vector<std::string>& search_path() const = 0;
};

class OfflineCatalog final : public Catalog {
 public:
  explicit OfflineCatalog(std::vector<std::string> search_path = {"public"})
      : search_path_(std::move(search_path)) {}
  std::shared_ptr<const RelationInfo> find_relation(std::string_view schema,
                                                    std::string_view name) const override;
  std::string function_schema(std::string_view schema, std::string_view name) const override;
  std::uint64_t generation() const override { return 0; }
  bool complete() const override { return false; }
  const std::vector<std::string>& search_path() const override { return search_path_; }

 private:
  std::vector<std::string> search_path_;
};

class SnapshotCatalog final : public Catalog {
 public:
  SnapshotCatalog(std::uint64_t generation, std::vector<std::string> search_path)
      : generation_(generation), search_path_(std::move(search_path)) {}

  // Building (single-threaded, before the snapshot is shared).
  void add_relation(RelationInfo r);
  void add_function(const std::string& schema, const std::string& name);
  // Relations by qualified name, for the loader to fill view lineage.
  RelationInfo* mutable_relation(const std::string& qualified);
  std::vector<std::string> view_names() const;

  std::shared_ptr<const RelationInfo> find_relation(std::string_view schema,
                                                    std::string_view name) const override;
  std::string function_schema(std::string_view schema, std::string_view name) const override;
  std::uint64_t generation() const override { return generation_; }
  bool complete() const override { return true; }
  const std::vector<std::string>& search_path() const override { return search_path_; }
  std::size_t relation_count() const { return relations_.size(); }

 private:
  std::uint64_t generation_;
  std::vector<std::string> search_path_;
  std::unordered_map<std::string, std::shared_ptr<RelationInfo>> relations_;    // schema.name
  std::unordered_map<std::string, std::vector<std::string>> function_schemas_;  // name -> schemas
};

}  // namespace sluice::sql
