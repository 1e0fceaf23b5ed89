#include "sql/catalog.h"

#include <algorithm>

namespace sluice::sql {

std::shared_ptr<const RelationInfo> OfflineCatalog::find_relation(std::string_view schema,
                                                                  std::string_view name) const {
  auto r = std::make_shared<RelationInfo>();
  r->name = std::string(name);
  if (!schema.empty()) {
    r->schema = std::string(schema);
  } else if (name.substr(0, 3) == "pg_") {
    // Every relation of PostgreSQL 15's pg_catalog starts with pg_, and pg_catalog is
    // searched before the search path.
    r->schema = "pg_catalog";
  } else {
    r->schema = search_path_.empty() ? "public" : search_path_.front();
  }
  return r;
}

std::string OfflineCatalog::function_schema(std::string_view schema, std::string_view name) const {
  if (!schema.empty()) return std::string(schema);
  (void)name;
  // Without a catalog, assume the built-in: pg_catalog is searched first. The allowlist of
  // safe functions names pg_catalog functions only, so a guess here can only make a decision
  // stricter at run time, where the live catalog resolves for real.
  return "pg_catalog";
}

void SnapshotCatalog::add_relation(RelationInfo r) {
  std::string key = r.qualified();
  relations_[key] = std::make_shared<RelationInfo>(std::move(r));
}

void SnapshotCatalog::add_function(const std::string& schema, const std::string& name) {
  auto& v = function_schemas_[name];
  if (std::find(v.begin(), v.end(), schema) == v.end()) v.push_back(schema);
}

RelationInfo* SnapshotCatalog::mutable_relation(const std::string& qualified) {
  auto it = relations_.find(qualified);
  return it == relations_.end() ? nullptr : it->second.get();
}

std::vector<std::string> SnapshotCatalog::view_names() const {
  std::vector<std::string> out;
  for (const auto& [k, r] : relations_)
    if (r->is_view()) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<const RelationInfo> SnapshotCatalog::find_relation(std::string_view schema,
                                                                   std::string_view name) const {
  auto lookup = [&](std::string_view s) -> std::shared_ptr<const RelationInfo> {
    std::string key;
    key.reserve(s.size() + 1 + name.size());
    key.append(s).append(".").append(name);
    auto it = relations_.find(key);
    return it == relations_.end() ? nullptr : it->second;
  };
  if (!schema.empty()) return lookup(schema);
  if (auto r = lookup("pg_catalog")) return r;
  for (const auto& s : search_path_)
    if (auto r = lookup(s)) return r;
  return nullptr;
}

std::string SnapshotCatalog::function_schema(std::string_view schema, std::string_view name) const {
  auto it = function_schemas_.find(std::string(name));
  if (!schema.empty()) {
    if (it == function_schemas_.end()) return "";
    return std::find(it->second.begin(), it->second.end(), schema) != it->second.end()
               ? std::string(schema)
               : "";
  }
  if (it == function_schemas_.end()) return "";
  const auto& schemas = it->second;
  if (std::find(schemas.begin(), schemas.end(), "pg_catalog") != schemas.end()) return "pg_catalog";
  for (const auto& s : search_path_)
    if (std::find(schemas.begin(), schemas.end(), s) != schemas.end()) return s;
  return "";
}

}  // namespace sluice::sql
