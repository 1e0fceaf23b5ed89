// Audit log append throughput (issue 5): events per second with durability fsync (each
// writer waits for its record, as a session waits before forwarding its statement; group
// commit shares syncs between writers) and with batch (no wait; synced every 10 ms).
//   cmake -S . -B build -DSLUICE_BENCH=ON && cmake --build build --target audit_bench
//   build/audit_bench            (writes under $TMPDIR, default /tmp)
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>

#include "audit/audit_log.h"

using namespace sluice;

namespace {

// A statement record of typical size (~300 bytes of JSON).
const std::string kBody =
    R"({"session":"s_0123456789abcdef","n":42,"origin":"simple_query","text":"SELECT id, )"
    R"(name, email FROM customers WHERE id = 4211","decision":"allow","analysis":[{"kind":)"
    R"("select","reads":["public.customers"],"writes":[],"columns":[{"relation":"public.)"
    R"(customers","column":"email","clause":"output"}]}]})";

struct Log {
  std::string dir;
  std::unique_ptr<audit::AuditLog> log;
  explicit Log(audit::Durability d) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/sluice-audit-bench-XXXXXX";
    dir = mkdtemp(tmpl.data());
    audit::AuditOptions o;
    o.dir = dir + "/audit";
    o.durability = d;
    o.node = "bench";
    log = std::make_unique<audit::AuditLog>(o, audit::SigningKey::generate());
    if (!log->start().is_ok()) std::abort();
  }
  ~Log() {
    log->close();
    std::filesystem::remove_all(dir);
  }
};

Log* shared_log = nullptr;

// fsync: every append waits until durable. Threads = concurrent sessions.
void BM_AppendFsync(benchmark::State& state) {
  if (state.thread_index() == 0) shared_log = new Log(audit::Durability::fsync);
  // (Google Benchmark synchronises threads before the loop.)
  for (auto _ : state) {
    auto t = shared_log->log->append(audit::Kind::statement, kBody, true);
    if (!shared_log->log->wait_durable(t, std::chrono::seconds(10)))
      state.SkipWithError("not durable");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared_log;
    shared_log = nullptr;
  }
}
BENCHMARK(BM_AppendFsync)->Threads(1)->Threads(8)->Threads(32)->UseRealTime()->MinTime(2.0);

// batch: appends do not wait; the writer syncs every 10 ms. An iteration appends N events
// and waits until they are on disk, so the figure is the sustained rate including the wait
// for the next sync (which dominates small N).
void BM_AppendBatch(benchmark::State& state) {
  Log log(audit::Durability::batch);
  for (auto _ : state) {
    std::uint64_t last = 0;
    for (std::int64_t i = 0; i < state.range(0); ++i)
      last = log.log->append(audit::Kind::statement, kBody);
    if (!log.log->wait_durable(last, std::chrono::seconds(30))) state.SkipWithError("not synced");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AppendBatch)->Arg(1000)->Arg(100000)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
