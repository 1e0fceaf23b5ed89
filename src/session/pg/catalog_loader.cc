#include "session/pg/catalog_loader.h"

#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "proto/pg/backend.h"
#include "session/pg/frame_reader.h"
#include "session/pg/upstream.h"
#include "sql/pg_analyzer.h"

namespace sluice::session::pg {

using namespace sluice::net;
namespace wire = sluice::pg;

namespace {

using Row = std::vector<std::optional<std::string>>;

awaitable<Result<std::vector<Row>>> query(Stream& s, FrameReader& reader, const std::string& sql) {
  std::string out;
  wire::append_query(out, sql);
  if (auto [ec, n] = co_await s.write(as_bytes(out)); ec)
    co_return error(Code::unavailable, "catalog query: " + ec.message());
  std::vector<Row> rows;
  std::string failure;
  std::vector<wire::Cell> cells;
  for (;;) {
    auto f = co_await reader.next(s);
    if (!f) co_return error(Code::unavailable, "catalog query: " + f.status().message());
    switch (f->type) {
      case wire::be::kDataRow: {
        if (!wire::parse_data_row(f->body, cells))
          co_return error(Code::protocol_violation, "malformed row");
        Row r;
        for (const auto& c : cells)
          r.emplace_back(c ? std::optional<std::string>(std::string(*c)) : std::nullopt);
        rows.push_back(std::move(r));
        break;
      }
      case wire::be::kErrorResponse: {
        auto e = wire::parse_error_fields(f->body);
        failure = e ? std::string(e->message) : "error";
        break;
      }
      case wire::be::kReadyForQuery:
        if (!failure.empty())
          co_return error(Code::failed_precondition, "catalog query failed: " + failure);
        co_return rows;
      default:
        break;
    }
  }
}

constexpr const char* kRelations = R"sql(
SELECT n.nspname, c.relname, c.relkind, a.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname, c.relname, a.attnum
)sql";

constexpr const char* kViews = R"sql(
SELECT n.nspname, c.relname, pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
)sql";

// Each partition or inheritance child with the root at the top of its hierarchy.
constexpr const char* kRoots = R"sql(
WITH RECURSIVE up(child, parent) AS (
  SELECT inhrelid, inhparent FROM pg_inherits
  UNION ALL
  SELECT up.child, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.parent
)
SELECT cn.nspname, c.relname, pn.nspname, p.relname
FROM up
JOIN pg_class c ON c.oid = up.child JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = up.parent JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = up.parent)
)sql";

constexpr const char* kFunctions = R"sql(
SELECT DISTINCT n.nspname, p.proname
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
)sql";

void derive_view_lineage(const std::shared_ptr<sql::SnapshotCatalog>& cat) {
  sql::PgAnalyzer analyzer(cat);
  auto views = cat->view_names();
  for (int pass = 0; pass < 8; ++pass) {
    bool changed = false;
    for (const auto& name : views) {
      sql::RelationInfo* v = cat->mutable_relation(name);
      if (!v || v->view_definition.empty()) continue;
      auto a = analyzer.analyze(v->view_definition);
      if (!a.ok() || a.statements.size() != 1) {
        // Fail closed: without its lineage, a read of the view would be attributed to the
        // view alone and walk around rules on the tables under it.
        std::string why = a.ok() ? "its definition is not one statement" : a.error;
        if (v->lineage_error.empty()) {
          log::warn("catalog", "view ", name, " could not be analysed (", why,
                    "); statements that read it will be refused");
          changed = true;  // views that read this one must be analysed again
        }
        v->lineage_error = std::move(why);
        continue;
      }
      v->lineage_error.clear();
      const sql::Facts& f = a.statements[0];
      if (f.outputs.size() != v->view_outputs.size() || f.reads != v->view_reads ||
          !std::equal(f.outputs.begin(), f.outputs.end(), v->view_outputs.begin(),
                      [](const sql::OutputColumn& x, const sql::OutputColumn& y) {
                        return x.sources == y.sources && x.functions == y.functions;
                      })) {
        v->view_outputs = f.outputs;
        v->view_reads = f.reads;
        changed = true;
      }
    }
    if (!changed) break;
  }
}

}  // namespace

awaitable<Result<std::shared_ptr<sql::SnapshotCatalog>>> load_catalog(
    const config::Connection& connection, ssl::context& tls, std::uint64_t generation) {
  std::vector<std::pair<std::string, std::string>> settings = {
      {"search_path", "pg_catalog"}, {"application_name", "sluice/catalog"}};
  auto conn = co_await connect_upstream(connection.postgres, tls, settings);
  if (!conn) co_return conn.status();
  Stream& s = *conn->stream;
  FrameReader reader(64u << 20);

  auto cat = std::make_shared<sql::SnapshotCatalog>(generation, connection.postgres.search_path);
  auto relations = co_await query(s, reader, kRelations);
  if (!relations) co_return relations.status();
  sql::RelationInfo current;
  auto flush = [&] {
    if (!current.name.empty()) cat->add_relation(std::move(current));
    current = {};
  };
  for (const auto& row : *relations) {
    if (row.size() < 4 || !row[0] || !row[1] || !row[2]) continue;
    if (*row[0] != current.schema || *row[1] != current.name) {
      flush();
      current.schema = *row[0];
      current.name = *row[1];
      current.kind = row[2]->empty() ? 'r' : (*row[2])[0];
      current.columns_known = true;
    }
    if (row[3]) current.columns.push_back(*row[3]);
  }
  flush();

  auto roots = co_await query(s, reader, kRoots);
  if (!roots) co_return roots.status();
  for (const auto& row : *roots) {
    if (row.size() < 4 || !row[0] || !row[1] || !row[2] || !row[3]) continue;
    if (auto* r = cat->mutable_relation(*row[0] + "." + *row[1]))
      r->policy_relation = *row[2] + "." + *row[3];
  }

  auto functions = co_await query(s, reader, kFunctions);
  if (!functions) co_return functions.status();
  for (const auto& row : *functions)
    if (row.size() >= 2 && row[0] && row[1]) cat->add_function(*row[0], *row[1]);

  auto views = co_await query(s, reader, kViews);
  if (!views) co_return views.status();
  for (const auto& row : *views)
    if (row.size() >= 3 && row[0] && row[1] && row[2])
      if (auto* r = cat->mutable_relation(*row[0] + "." + *row[1])) r->view_definition = *row[2];
  derive_view_lineage(cat);

  std::string bye;
  wire::append_terminate(bye);
  co_await s.write(as_bytes(bye));
  s.close();
  co_return cat;
}

awaitable<Result<std::shared_ptr<sql::SnapshotCatalog>>> load_catalog_within(
    const config::Connection& connection, ssl::context& tls, std::uint64_t generation,
    std::chrono::milliseconds timeout) {
  using namespace boost::asio::experimental::awaitable_operators;
  asio::steady_timer t(co_await asio::this_coro::executor, timeout);
  auto load = load_catalog(connection, tls, generation);
  auto wait = t.async_wait(use_nothrow);
  auto r = co_await (std::move(load) || std::move(wait));
  if (r.index() == 0) co_return std::move(std::get<0>(r));
  co_return error(Code::deadline_exceeded,
                  "reading the catalog took longer than " + std::to_string(timeout.count()) + "ms");
}

Result<std::shared_ptr<sql::SnapshotCatalog>> load_catalog_blocking(
    const config::Connection& connection, ssl::context& tls, std::uint64_t generation,
    std::chrono::milliseconds timeout) {
  asio::io_context io;
  std::optional<Result<std::shared_ptr<sql::SnapshotCatalog>>> result;
  auto run = [&]() -> awaitable<void> {
    auto r = co_await load_catalog_within(connection, tls, generation, timeout);
    result.emplace(std::move(r));
  };
  asio::co_spawn(io, run(), asio::detached);
  io.run();
  if (!result) return error(Code::internal, "reading the catalog did not finish");
  return std::move(*result);
}

}  // namespace sluice::session::pg
