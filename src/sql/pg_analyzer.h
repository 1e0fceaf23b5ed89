// PgAnalyzer: PostgreSQL statements to Facts, from the real PostgreSQL 15 parser
// (libpg_query), resolved against a Catalog.
//
// There is no text matching anywhere: every fact comes from the parse tree. Text that is not
// valid UTF-8 or does not parse yields an Analysis with an error, which the policy refuses
// (fail closed). Statements the walker has no specific rule for are still walked generically,
// so a function call or a relation anywhere in any tree is seen.
//
// Thread-safe: analyze() may run on many threads at once against one immutable catalog.
#pragma once

#include <memory>
#include <string_view>

#include "sql/catalog.h"
#include "sql/facts.h"

namespace sluice::sql {

class PgAnalyzer {
 public:
  explicit PgAnalyzer(std::shared_ptr<const Catalog> catalog) : catalog_(std::move(catalog)) {}

  Analysis analyze(std::string_view sql) const;
  const Catalog& catalog() const { return *catalog_; }

 private:
  std::shared_ptr<const Catalog> catalog_;
};

}  // namespace sluice::sql
