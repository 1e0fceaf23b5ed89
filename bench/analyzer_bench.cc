// Analyzer and policy throughput for typical agent queries (issue 3's targets: cold analysis
// >= 50k statements/s per core, warm cache hit >= 1M/s).
//   cmake -S . -B build -DSLUICE_BENCH=ON && cmake --build build --target analyzer_bench
//   build/analyzer_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "policy/policy_stage.h"
#include "sql/connection_analyzer.h"
#include "sql/literal_shape.h"
#include "sql/pg_analyzer.h"

using namespace sluice;

namespace {

std::shared_ptr<sql::SnapshotCatalog> catalog() {
  auto cat = std::make_shared<sql::SnapshotCatalog>(1, std::vector<std::string>{"public"});
  auto add = [&](std::string name, std::vector<std::string> cols) {
    sql::RelationInfo r;
    r.schema = "public";
    r.name = std::move(name);
    r.columns = std::move(cols);
    r.columns_known = true;
    cat->add_relation(std::move(r));
  };
  add("customers", {"id", "name", "email", "ssn", "card", "created_at", "region", "tier"});
  add("orders", {"id", "customer_id", "amount", "status", "created_at", "shipped_at", "notes"});
  add("items", {"id", "order_id", "sku", "qty", "price"});
  for (auto f : {"count", "sum", "avg", "lower", "date_trunc", "coalesce", "row_number", "now"})
    cat->add_function("pg_catalog", f);
  return cat;
}

const std::vector<std::string>& queries() {
  static const std::vector<std::string> q = [] {
    std::vector<std::string> v = {
        "select id, name, email from customers where id = 42",
        "select o.id, o.amount, c.name from orders o join customers c on c.id = o.customer_id "
        "where o.status = 'shipped' and o.amount > 100 order by o.amount desc limit 20",
        "with recent as (select customer_id, sum(amount) as total, count(*) as n from orders "
        "where created_at > now() - interval '30 days' group by customer_id) select c.name, "
        "r.total, r.n, row_number() over (order by r.total desc) from recent r join customers c "
        "on c.id = r.customer_id where c.region = 'emea' limit 10",
        "update orders set status = 'shipped', shipped_at = now() where id = 7 and status = 'new'",
        "insert into items (order_id, sku, qty, price) values (1, 'A-1', 2, 9.99) returning id",
        "select date_trunc('day', created_at) as day, count(*), avg(amount) from orders group "
        "by 1 order by 1 desc limit 30",
    };
    // A ~1 KB query with many predicates.
    std::string big =
        "select c.id, c.name, c.email, c.region, o.id, o.amount, o.status from "
        "customers c join orders o on o.customer_id = c.id where ";
    for (int i = 0; big.size() < 1000; ++i)
      big += (i ? " or " : "") + std::string("(o.amount between ") + std::to_string(i * 10) +
             " and " + std::to_string(i * 10 + 5) + " and c.tier = 'gold')";
    big += " order by o.amount limit 50";
    v.push_back(big);
    return v;
  }();
  return q;
}

void BM_AnalyzeCold(benchmark::State& state) {
  sql::PgAnalyzer analyzer(catalog());
  const auto& q = queries();
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& s = q[i++ % q.size()];
    bytes += s.size();
    auto a = analyzer.analyze(s);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_AnalyzeCold);

// One query at a time (index into queries()).
void BM_AnalyzeColdEach(benchmark::State& state) {
  sql::PgAnalyzer analyzer(catalog());
  const std::string& s = queries()[static_cast<std::size_t>(state.range(0))];
  for (auto _ : state) {
    auto a = analyzer.analyze(s);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(s.size()) + " bytes");
}
BENCHMARK(BM_AnalyzeColdEach)->DenseRange(0, 6);

void BM_AnalyzeWarm(benchmark::State& state) {
  sql::ConnectionAnalyzer analyzer(catalog());
  const auto& q = queries();
  for (const auto& s : q) analyzer.analyze(s);
  std::size_t i = 0;
  for (auto _ : state) {
    auto a = analyzer.analyze(q[i++ % q.size()]);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalyzeWarm);

// Texts never seen before that share a literal shape with earlier ones: the pgbench -S
// statement with a new key each time (every text misses the exact-text cache; the shape
// cache answers after one scan).
void BM_AnalyzeNewLiterals(benchmark::State& state) {
  sql::ConnectionAnalyzer analyzer(catalog());
  std::vector<std::string> texts;
  for (int i = 0; i < 100000; ++i)
    texts.push_back("select name, email from customers where id = " + std::to_string(i * 7919));
  std::size_t i = 0;
  for (auto _ : state) {
    auto a = analyzer.analyze(texts[i++ % texts.size()]);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalyzeNewLiterals);

// pgbench -S in simple mode: one of a million values at random each time, so that a text
// repeats now and then (about one in sixteen within the wide sighting window, one in 250 within
// the narrow one that admits a text its shape answered for) but mostly not.
void BM_AnalyzeRandomLiterals(benchmark::State& state) {
  sql::ConnectionAnalyzer analyzer(catalog());
  std::uint64_t x = 88172645463325252ull;  // xorshift64: cheap, and the same each run
  std::string text;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    text = "select name, email from customers where id = ";
    text += std::to_string(x % 1000000 + 1);
    auto a = analyzer.analyze(text);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalyzeRandomLiterals);

// Literal shapes alone (libpg_query's scanner).
void BM_LiteralShape(benchmark::State& state) {
  const std::string s = "select name, email from customers where id = 4242";
  for (auto _ : state) {
    auto k = sql::literal_shape(s);
    benchmark::DoNotOptimize(k);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LiteralShape);

// The per-statement work of the policy stage on the warm path: cached analysis plus the
// agent baseline and two user rules.
void BM_PolicyStageWarm(benchmark::State& state) {
  auto cfg = config::parse_config(R"(
listen: {postgres: '127.0.0.1:1'}
rules:
  - include: agent-baseline
  - { name: no-bare-delete, when: { kind: [delete, update], has_where: false }, action: deny }
  - { name: pii, when: { reads: ["public.customers.ssn"] }, action: approval }
)",
                                  "/bench.yaml");
  auto analyzer = std::make_shared<sql::ConnectionAnalyzer>(catalog());
  policy::PolicyStage stage(cfg->policy, {{"shop", analyzer}});
  hook::SessionInfo session;
  session.connection = "shop";
  session.scope.access = hook::GrantScope::Access::write;
  hook::SessionScratch scratch;
  const auto& q = queries();
  std::size_t i = 0;
  for (auto _ : state) {
    hook::StatementEvent ev{
        session, hook::Origin::simple_query, q[i++ % q.size()], {}, {}, nullptr, &scratch, {}};
    hook::Decision d;
    stage.on_statement(ev, d);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PolicyStageWarm);

}  // namespace

BENCHMARK_MAIN();
