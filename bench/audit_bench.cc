// Audit log append throughput (issue 5): events per second with durability fsync (each
// writer waits for its record, as a session waits before forwarding its statement; group
// commit shares syncs between writers) and with batch (no wait; synced every 10 ms).
//   cmake -S . -B build -DSLUICE_BENCH=ON && cmake --build build --target audit_bench
//   build/audit_bench            (writes under $TMPDIR, default /tmp)
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "audit/audit_log.h"
#include "audit/recorder.h"
#include "hook/result_observer.h"

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

double cpu_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

std::uintmax_t log_bytes(const std::string& dir) {
  std::uintmax_t total = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir))
    if (f.is_regular_file()) total += f.file_size();
  return total;
}

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

// One pgbench -S statement as the relay reports it to the recorder: the statement with its
// decision and analysis, then a one-row result through the result observer.
struct PgbenchStatement {
  std::shared_ptr<sql::Analysis> analysis = std::make_shared<sql::Analysis>();
  std::vector<hook::ResultColumn> columns = {{"abalance", 23, false}};
  std::string param = "4211";
  std::optional<std::string_view> params[1] = {std::string_view(param)};
  hook::Row row;

  PgbenchStatement() {
    sql::Facts f;
    f.kind = sql::Kind::select;
    f.reads = {"public.pgbench_accounts"};
    f.columns = {{"public.pgbench_accounts", "abalance", sql::Clause::output},
                 {"public.pgbench_accounts", "aid", sql::Clause::where}};
    analysis->statements.push_back(f);
  }
  PgbenchStatement(const PgbenchStatement&) = delete;  // params points into param

  void record(audit::AuditRecorder& recorder, const hook::SessionInfo& session) {
    hook::StatementEvent ev{session,
                            hook::Origin::execute,
                            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
                            "P_0",
                            params,
                            analysis,
                            nullptr,
                            {}};
    hook::Decision d;
    recorder.on_decision(ev, d);
    for (auto& o : d.observers) o->on_columns(columns);
    row.reset();
    row.cells.emplace_back("-2917");
    for (auto& o : d.observers) o->on_row(row);
    for (auto& o : d.observers) o->on_complete("SELECT 1", 1);
  }
};

// What recording a pgbench -S statement costs: the session's thread (the benchmark's CPU
// time), the writer thread (writer_ns) and the log's growth (log_bytes), per statement.
void BM_RecordStatement(benchmark::State& state) {
  Log log(audit::Durability::batch);
  audit::AuditRecorder recorder(*log.log, {});
  hook::SessionInfo session;
  session.session_id = "s_3f9a0c2e5b7d4e61a8c0";
  session.identity = "bench";
  session.connection = "bench";
  recorder.on_session_start(session);
  PgbenchStatement statement;
  log.log->flush();
  const double process_before = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
  const double thread_before = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  for (auto _ : state) statement.record(recorder, session);
  state.SetItemsProcessed(state.iterations());
  // What the writer thread spent on them (the process's CPU time but this thread's), and how
  // many bytes the log grew by, per statement.
  log.log->flush();
  const double writer = (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - process_before) -
                        (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - thread_before);
  const auto n = static_cast<double>(state.iterations());
  state.counters["writer_ns"] = writer / n;
  state.counters["log_bytes"] = static_cast<double>(log_bytes(log.dir)) / n;
  recorder.on_session_end(session, "bench");
}
BENCHMARK(BM_RecordStatement)->MinTime(2.0);

// The same from several threads at once, each a session of its own, into one log, as the
// gateway's workers record: each thread has its own stage, and they share the ticket counter
// and the writer (with two threads, three busy threads on a 2-core host). CPU time is per
// thread.
audit::AuditRecorder* shared_recorder = nullptr;
std::atomic<int> threads_done{0};
void BM_RecordStatementThreads(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_log = new Log(audit::Durability::batch);
    shared_recorder = new audit::AuditRecorder(*shared_log->log, {});
  }
  hook::SessionInfo session;
  session.session_id = "s_3f9a0c2e5b7d4e61a8c" + std::to_string(state.thread_index());
  session.identity = "bench";
  PgbenchStatement statement;
  bool started = false;
  for (auto _ : state) {  // (Google Benchmark synchronises threads before the loop.)
    if (!started) {
      shared_recorder->on_session_start(session);
      started = true;
    }
    statement.record(*shared_recorder, session);
  }
  state.SetItemsProcessed(state.iterations());
  shared_recorder->on_session_end(session, "bench");
  threads_done.fetch_add(1);
  if (state.thread_index() == 0) {
    // Threads leave the loop at different times: the last one out may still be recording.
    while (threads_done.load() < state.threads()) std::this_thread::yield();
    threads_done = 0;
    delete shared_recorder;
    delete shared_log;
    shared_recorder = nullptr;
    shared_log = nullptr;
  }
}
BENCHMARK(BM_RecordStatementThreads)->Threads(1)->Threads(2)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
