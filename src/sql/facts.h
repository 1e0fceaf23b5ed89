// Facts: what the analyzer learned about one statement, the same for every SQL dialect.
//
// Produced by the analyzers in src/sql from the real parse tree, consumed by policy, masking
// and audit. Names are resolved the way the server resolves them: relations are
// "schema.table", columns "schema.table.column" (Snowflake: database first). An Analysis
// holds the facts of every statement in one message; it is immutable once built and shared
// between sessions through the analysis cache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::sql {

enum class Kind : std::uint8_t {
  select,
  insert,
  update,
  delete_,
  merge,
  copy_to,
  copy_from,
  create,
  alter,
  drop,
  truncate,
  grant,
  revoke,
  set,
  reset,
  show,
  transaction,
  prepare,
  execute,
  deallocate,
  declare,
  fetch,
  close,
  explain,
  call,
  do_,
  listen,
  notify,
  unlisten,
  lock,
  vacuum,
  analyze,
  discard,
  utility,
};
std::string_view to_string(Kind k);
std::optional<Kind> parse_kind(std::string_view s);
bool is_write(Kind k);  // changes data, schema, privileges or server state

// Where a column appears in a statement.
enum class Clause : std::uint8_t {
  output,  // select list
  where,
  join,  // JOIN ... ON / USING
  group,
  having,
  order,
  window,        // PARTITION BY / window ORDER BY
  function_arg,  // an argument of a function call (recorded besides the enclosing clause)
  returning,
  set,            // UPDATE ... SET, ON CONFLICT ... SET
  insert_source,  // values that INSERT, COPY FROM or CREATE TABLE AS write
  other,          // LIMIT, VALUES, DISTINCT ON, CASE outside the above, ...
};
std::string_view to_string(Clause c);
std::optional<Clause> parse_clause(std::string_view s);

struct ColumnUse {
  std::string relation;  // schema.table, or "" when it could not be resolved
  std::string column;    // column name; "*" for every column (whole-row use, unknown table)
  Clause clause = Clause::other;
  bool operator==(const ColumnUse&) const = default;
};

// Where one output column's values come from.
struct OutputColumn {
  std::string name;
  std::vector<std::string> sources;    // schema.table.column (or schema.table.* )
  std::vector<std::string> functions;  // functions its value passes through
  bool direct = false;                 // the value of exactly one source column, unchanged
};

struct Facts {
  Kind kind = Kind::utility;
  std::string object_type;          // create/alter/drop/grant...: table, view, function, role, ...
  std::vector<Kind> effects;        // every kind anywhere in the tree, `kind` first
  std::vector<std::string> reads;   // relations read (views, and the tables under them)
  std::vector<std::string> named;   // relations the statement names itself (no view internals)
  std::vector<std::string> writes;  // relations written
  std::vector<ColumnUse> columns;   // columns read, with the clause of each use
  std::vector<std::string> functions;  // schema.function, every call in the tree
  std::vector<OutputColumn> outputs;
  std::vector<std::string> settings;  // settings it changes ("*" = could be any)
  std::string name;  // prepared statement, cursor or channel name, where the statement has one
  std::shared_ptr<const Facts> inner;  // PREPARE, DECLARE, EXPLAIN, CREATE TABLE AS: the query

  bool has_where = false;
  bool has_limit = false;
  bool data_modifying_cte = false;  // WITH x AS (INSERT/UPDATE/DELETE/MERGE ...)
  bool select_into = false;         // SELECT ... INTO new_table
  bool explain_analyze = false;
  bool row_locks = false;               // FOR UPDATE/SHARE, LOCK TABLE
  bool copy_stdio = false;              // COPY to stdout / from stdin
  bool copy_file = false;               // COPY to or from a server file
  bool copy_program = false;            // COPY to or from a program
  bool read_write_transaction = false;  // BEGIN/SET TRANSACTION READ WRITE
  std::vector<std::string> unresolved;  // names the catalog could not resolve

  bool has_effect(Kind k) const;
};

// The facts of every statement in one message. `error` is set when the text could not be
// analysed; such a message is refused (fail closed).
struct Analysis {
  std::vector<Facts> statements;
  std::string error;
  int error_position = 0;  // 1-based character position, 0 when unknown
  std::uint64_t catalog_generation = 0;
  // No fact depends on the value of a literal: the analysis holds for every text of the same
  // literal shape (sql/literal_shape.h), and the cache may share it between them.
  bool independent_of_literals = false;
  bool ok() const { return error.empty(); }
};

}  // namespace sluice::sql
