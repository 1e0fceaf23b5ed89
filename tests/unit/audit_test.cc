// The audit log: format, chain, checkpoints, tamper detection, and durability under a file
// layer that loses everything not yet synced (modelled on LevelDB's fault-injection test
// environment): no acknowledged record may be lost.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "audit/audit_log.h"
#include "audit/crc32c.h"
#include "audit/event_body.h"
#include "audit/packed.h"
#include "audit/recorder.h"
#include "audit/verify.h"
#include "hook/result_observer.h"
#include "hook/statement_stage.h"

namespace sluice::audit {
namespace {

// ---- a file system that forgets what was not synced --------------------------------------

class FaultFs final : public FileSystem {
 public:
  struct File {
    std::string data;
    std::size_t synced = 0;
    bool entry_synced = false;  // the directory entry is durable
  };

  class Writable final : public WritableFile {
   public:
    Writable(FaultFs& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
    Status append(std::string_view d) override {
      std::lock_guard lk(fs_.mu_);
      if (fs_.fail_writes_) return error(Code::io_error, "injected write failure");
      fs_.files_[path_].data.append(d);
      return Status::ok();
    }
    Status sync() override {
      std::lock_guard lk(fs_.mu_);
      if (fs_.fail_writes_) return error(Code::io_error, "injected sync failure");
      auto& f = fs_.files_[path_];
      f.synced = f.data.size();
      return Status::ok();
    }
    Status close() override { return Status::ok(); }

   private:
    FaultFs& fs_;
    std::string path_;
  };

  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    std::lock_guard lk(mu_);
    if (fail_writes_) return error(Code::io_error, "injected create failure");
    if (files_.count(path)) return error(Code::already_exists, path + " exists");
    files_[path] = File{};
    return std::unique_ptr<WritableFile>(new Writable(*this, path));
  }
  Status sync_dir(const std::string& dir) override {
    std::lock_guard lk(mu_);
    for (auto& [p, f] : files_)
      if (p.rfind(dir + "/", 0) == 0) f.entry_synced = true;
    return Status::ok();
  }
  Status make_dir(const std::string&) override { return Status::ok(); }
  using FileSystem::read;
  Result<std::string> read(const std::string& path, std::size_t max_bytes) override {
    std::lock_guard lk(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return error(Code::not_found, path);
    return it->second.data.substr(0, max_bytes);
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& [p, f] : files_)
      if (p.rfind(dir + "/", 0) == 0) out.push_back(p.substr(dir.size() + 1));
    return out;
  }
  Status remove(const std::string& path) override {
    std::lock_guard lk(mu_);
    files_.erase(path);
    return Status::ok();
  }
  Result<std::uint64_t> size(const std::string& path) override {
    std::lock_guard lk(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return error(Code::not_found, path);
    return static_cast<std::uint64_t>(it->second.data.size());
  }

  // A power cut: unsynced bytes vanish, and files whose directory entry was never synced too.
  void crash() {
    std::lock_guard lk(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (!it->second.entry_synced) {
        it = files_.erase(it);
      } else {
        it->second.data.resize(it->second.synced);
        ++it;
      }
    }
  }
  void set_fail_writes(bool v) {
    std::lock_guard lk(mu_);
    fail_writes_ = v;
  }
  std::string& data(const std::string& path) { return files_.at(path).data; }

 private:
  std::mutex mu_;
  std::map<std::string, File> files_;
  bool fail_writes_ = false;
};

const std::string kDir = "/audit";

AuditOptions options(Durability d = Durability::fsync) {
  AuditOptions o;
  o.dir = kDir;
  o.durability = d;
  o.node = "node-1";
  o.checkpoint_interval = std::chrono::milliseconds(50);
  return o;
}

struct Fixture {
  FaultFs fs;
  SigningKey key = SigningKey::generate();
  Verifier keys;
  Fixture() { keys.add(key); }
  std::unique_ptr<AuditLog> open(AuditOptions o = options()) {
    auto log = std::make_unique<AuditLog>(std::move(o), key, fs);
    EXPECT_TRUE(log->start().is_ok());
    return log;
  }
  VerifyReport verify(std::optional<Witness> w = std::nullopt) {
    return verify_log(kDir, keys, w, fs);
  }
  std::vector<Record> records() {
    std::vector<Record> out;
    EXPECT_TRUE(scan_log(kDir, fs, [&](const Record& r) {
                  out.push_back(r);
                  return true;
                }).is_ok());
    return out;
  }
};

std::string body(int i) {
  return "{\"i\":" + std::to_string(i) + ",\"pad\":\"" +
         std::string(static_cast<std::size_t>(i % 300), 'x') + "\"}";
}

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);  // the CRC-32C check value
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros), 0x8a9136aau);  // RFC 3720 B.4
  EXPECT_EQ(unmask_crc(mask_crc(0x12345678u)), 0x12345678u);
}

TEST(AuditFormat, FramesRoundTripAcrossBlocks) {
  std::string file;
  FrameWriter w;
  std::vector<std::string> recs;
  for (int i = 0; i < 200; ++i)
    recs.push_back(
        std::string(static_cast<std::size_t>(i * 997 % 70000), static_cast<char>('a' + i % 26)));
  for (const auto& r : recs) w.add(r, file);
  FrameReader reader(file);
  std::string got, why;
  for (const auto& r : recs) {
    ASSERT_EQ(reader.next(got, why), FrameReader::Next::record) << why;
    EXPECT_EQ(got, r);
  }
  EXPECT_EQ(reader.next(got, why), FrameReader::Next::end);
  // A cut anywhere inside the last record reads as torn, not as corruption.
  FrameReader cut(std::string_view(file).substr(0, file.size() - 3));
  int n = 0;
  FrameReader::Next last;
  while ((last = cut.next(got, why)) == FrameReader::Next::record) ++n;
  EXPECT_EQ(n, 199);
  EXPECT_EQ(last, FrameReader::Next::torn);
}

TEST(AuditLog, ChainsSignsAndSeals) {
  Fixture f;
  auto log = f.open();
  for (int i = 0; i < 500; ++i) ASSERT_GT(log->append(Kind::statement, body(i)), 0u);
  log->close();
  auto rep = f.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
  EXPECT_TRUE(rep.sealed);
  EXPECT_EQ(rep.records, 502u);  // segment_start + 500 + seal (+ periodic checkpoints)
  EXPECT_GE(rep.checkpoints, 1u);
  // A verifier without the public key refuses the log.
  Verifier none;
  auto unknown = verify_log(kDir, none, std::nullopt, f.fs);
  EXPECT_FALSE(unknown.ok);
  EXPECT_NE(unknown.error.find("unknown key"), std::string::npos);
}

// The live tail keeps the newest records, in order, across the writer's blocks, and lets the
// oldest go once it holds 20,000.
TEST(AuditLog, LiveTailKeepsTheNewestRecordsAcrossBlocks) {
  Fixture f;
  auto log = f.open(options(Durability::batch));
  constexpr int kRecords = 25'000;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_GT(log->append(Kind::statement, body(i)), 0u);
    if (i % 3000 == 0) log->flush();  // several writer passes, so several blocks
  }
  log->flush();
  auto all = log->recent(0, "", 100'000);
  ASSERT_EQ(all.size(), 20'000u);
  for (std::size_t k = 0; k < all.size(); ++k) {
    int i = kRecords - 20'000 + static_cast<int>(k);
    ASSERT_EQ(all[k].body, body(i)) << k;
    if (k > 0) {
      ASSERT_GT(all[k].seq, all[k - 1].seq);
    }
  }
  ASSERT_GT(log->append(Kind::session_end, R"({"session":"s_9","reason":"x"})"), 0u);
  log->flush();
  auto one = log->recent(0, "s_9", 10);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].kind, Kind::session_end);
  EXPECT_EQ(log->recent(0, "s_", 10).size(), 0u) << "a session id matches whole";
  EXPECT_EQ(log->recent(one[0].seq, "", 10).size(), 0u);
  log->close();
  EXPECT_TRUE(f.verify().ok);
}

// The recorder packs statements and results on the session's thread and the writer renders
// them: the bodies must be the record format of docs/design/audit_log_format.md, byte for
// byte (escaping, NULLs, binary parameters, bytes that are not UTF-8, refusals, caps, errors,
// truncation), whatever the order in which a pipeline's results complete.
TEST(AuditRecorder, WritesTheRecordFormatFromPackedEvents) {
  Fixture f;
  auto log = f.open(options(Durability::batch));
  AuditRecorder recorder(*log, RecorderOptions{.result_rows = 2, .result_bytes = 1 << 20});
  hook::SessionInfo session;
  session.session_id = "s_1";
  session.identity = "ana";
  session.connection = "shop";
  recorder.on_session_start(session);

  auto analysis = std::make_shared<sql::Analysis>();
  sql::Facts facts;
  facts.kind = sql::Kind::select;
  facts.reads = {"public.t"};
  facts.columns = {{"public.t", "a\"b", sql::Clause::output}};
  analysis->statements.push_back(facts);

  const std::string not_utf8 = "\xff\xfe";
  std::optional<std::string_view> params[] = {std::string_view("x\n\"y\""), std::nullopt,
                                              std::string_view("\x01\x02"),
                                              std::string_view(not_utf8)};
  const std::uint8_t binary[] = {0, 0, 1, 0};
  hook::StatementEvent ev{session,
                          hook::Origin::execute,
                          "select \"a\"\"b\" from t where x = $1",
                          "s1",
                          params,
                          analysis,
                          nullptr,
                          binary};
  hook::Decision allowed;
  allowed.rule = "reads";
  allowed.caps.max_rows = 10;
  recorder.on_decision(ev, allowed);

  // A second statement while the first's result is still open (a pipeline): a refusal.
  hook::StatementEvent drop{
      session, hook::Origin::simple_query, "drop table t", {}, {}, nullptr, nullptr, {}};
  hook::Refusal why;
  why.sqlstate = "42501";
  why.message = "sluice: no \\ DROP";
  why.rule = "baseline-ddl";
  hook::Decision refused = hook::Decision::refuse(why);
  recorder.on_decision(drop, refused);
  EXPECT_TRUE(refused.observers.empty()) << "a refused statement has no result to record";

  // A third, pipelined behind the first: its result comes first and fails.
  hook::StatementEvent third{
      session, hook::Origin::simple_query, "select 1/0", {}, {}, nullptr, nullptr, {}};
  hook::Decision held;
  held.verdict = hook::Verdict::hold;
  recorder.on_decision(third, held);
  ASSERT_EQ(held.observers.size(), 1u);
  held.observers[0]->on_error("22012", "division by zero");

  ASSERT_EQ(allowed.observers.size(), 1u);
  auto& result = *allowed.observers[0];
  const hook::ResultColumn columns[] = {{"a\"b", 25, false}, {"raw", 17, true}};
  result.on_columns(columns);
  hook::Row row;
  for (std::string_view cell : {"one", "tw\to", "three"}) {
    row.reset();
    row.cells.emplace_back(cell);
    row.cells.emplace_back(std::nullopt);
    if (cell == "one") row.cells[1] = std::string_view(not_utf8);
    result.on_row(row);
  }
  result.on_complete("SELECT 3", 3);
  recorder.on_session_end(session, "client_closed");
  log->flush();

  std::vector<std::string> bodies;
  for (const auto& r : log->recent(0, "", 100))
    if (r.kind != Kind::checkpoint && r.kind != Kind::segment_start) bodies.push_back(r.body);
  ASSERT_EQ(bodies.size(), 7u);
  const std::string analysis_json =
      R"([{"kind":"select","reads":["public.t"],"writes":[],"columns":[{"relation":"public.t","column":"a\"b","clause":"output"}]}])";
  EXPECT_EQ(
      bodies[1],
      R"({"session":"s_1","n":1,"origin":"execute","text":"select \"a\"\"b\" from t where x = $1","name":"s1","params":["x\n\"y\"",null,{"base64":"AQI="},{"base64":"//4="}],"decision":"allow","rule":"reads","max_rows":10,"max_bytes":0,"analysis":)" +
          analysis_json + "}");
  EXPECT_EQ(
      bodies[2],
      R"({"session":"s_1","n":2,"origin":"simple_query","text":"drop table t","decision":"refuse","rule":"baseline-ddl","sqlstate":"42501","message":"sluice: no \\ DROP"})");
  EXPECT_EQ(
      bodies[3],
      R"({"session":"s_1","n":3,"origin":"simple_query","text":"select 1/0","decision":"hold"})");
  // The error result: its duration varies, the rest does not.
  auto without_duration = [](std::string b) {
    auto at = b.find(",\"duration_us\":");
    auto end = b.find(',', at + 1);
    if (at != std::string::npos && end != std::string::npos) b.erase(at, end - at);
    return b;
  };
  EXPECT_EQ(
      without_duration(bodies[4]),
      R"({"session":"s_1","n":3,"set":0,"rows":0,"bytes":0,"truncated":false,"error":{"sqlstate":"22012","message":"division by zero"},"masked":{},"columns":[],"data":[]})");
  EXPECT_EQ(
      without_duration(bodies[5]),
      R"({"session":"s_1","n":1,"set":0,"rows":3,"bytes":14,"truncated":true,"tag":"SELECT 3","masked":{},"columns":[{"name":"a\"b","type":25,"binary":false},{"name":"raw","type":17,"binary":true}],"data":[["one",{"base64":"//4="}],["tw\to",null]]})");
  EXPECT_NE(bodies[5].find(",\"duration_us\":"), std::string::npos);
  EXPECT_EQ(log->recent(0, "s_1", 100).size(), 7u);
  EXPECT_EQ(log->recent(0, "s_2", 100).size(), 0u);
  log->close();
  EXPECT_TRUE(f.verify().ok);

  // On disk, statements and results are packed; readers see the same JSON.
  std::vector<std::string> read;
  for (const auto& r : f.records()) {
    if (r.kind != Kind::statement && r.kind != Kind::result) continue;
    EXPECT_EQ(static_cast<std::uint8_t>(r.body[0]), kPackedBody);
    auto json = body_json(r.kind, r.body);
    ASSERT_TRUE(json) << json.status().message();
    read.push_back(*json);
  }
  ASSERT_EQ(read.size(), 5u);
  for (std::size_t i = 0; i < read.size(); ++i) EXPECT_EQ(read[i], bodies[i + 1]);
}

// A packed body that was cut, or has bytes after its last field, or sits in a kind that is
// never packed, is an error that says so, and verify names its record.
TEST(AuditPacked, AMalformedBodyIsNamed) {
  std::string body;
  PackWriter(body).u8(kPackedBody).str("s_1").u64(4).u8(0).str("select 1").str("").u32(0);
  PackWriter(body).u8(0).str("").u8(0);
  pack_analysis(nullptr, body);
  auto whole = body_json(Kind::statement, body);
  ASSERT_TRUE(whole) << whole.status().message();
  EXPECT_EQ(
      *whole,
      R"({"session":"s_1","n":4,"origin":"simple_query","text":"select 1","decision":"allow"})");
  auto cut = body_json(Kind::statement, std::string_view(body).substr(0, body.size() - 3));
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.status().message().find("ends inside a field"), std::string::npos);
  auto longer = body_json(Kind::statement, body + "x");
  ASSERT_FALSE(longer);
  EXPECT_NE(longer.status().message().find("bytes after its last field"), std::string::npos);
  EXPECT_FALSE(body_json(Kind::session_end, body));
  std::string unknown = body;
  ASSERT_EQ(unknown[37], '\0');  // the decision: allow
  unknown[37] = 7;
  auto bad = body_json(Kind::statement, unknown);
  ASSERT_FALSE(bad) << *bad;
  EXPECT_NE(bad.status().message().find("unknown decision code 7"), std::string::npos);

  // A result with masked cells (the masking stage's counts), as the format doc lays it out.
  std::string result;
  PackWriter(result)
      .u8(kPackedBody)
      .str("s_1")
      .u64(4)
      .u64(0)
      .i64(5)
      .u64(1)
      .u64(3)
      .u8(0)
      .str("SELECT 1")
      .u8(0)
      .u32(1)
      .str("e\"mail")
      .u64(1)
      .u64(1)
      .u32(1)
      .str("e\"mail")
      .u32(25)
      .u8(0)
      .u32(1)
      .opt("x@y");
  auto rendered = body_json(Kind::result, result);
  ASSERT_TRUE(rendered) << rendered.status().message();
  EXPECT_EQ(
      *rendered,
      R"({"session":"s_1","n":4,"set":0,"duration_us":5,"rows":1,"bytes":3,"truncated":false,"tag":"SELECT 1","masked":{"e\"mail":1},"columns":[{"name":"e\"mail","type":25,"binary":false}],"data":[["x@y"]]})");
  EXPECT_TRUE(body_has_session(body, "s_1"));
  EXPECT_FALSE(body_has_session(body, "s_"));

  Fixture f;
  auto log = f.open(options(Durability::batch));
  ASSERT_GT(log->append(Kind::statement, std::string_view(body).substr(0, body.size() - 3)), 0u);
  log->close();
  auto rep = f.verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.error.find("(seq 2): the packed body ends inside a field"), std::string::npos)
      << rep.error;
}

// A packed event the writer cannot render still takes its place in the chain, saying so; the
// events around it are written as usual, and the writer thread goes on.
TEST(AuditLog, AnEventThatCannotBeRenderedIsRecordedAsSuch) {
  Fixture f;
  auto log = f.open(options(Durability::batch));
  auto fails = [](std::string_view, const std::shared_ptr<const void>&, std::string& out) {
    out += "{\"half\":";  // what a renderer had written when it threw is dropped
    throw std::runtime_error("renderer out of memory");
  };
  auto copies = [](std::string_view packed, const std::shared_ptr<const void>&, std::string& out) {
    out.append(packed);
  };
  ASSERT_GT(log->append(Kind::statement, body(1)), 0u);
  ASSERT_GT(log->append_packed(Kind::statement, {"x"}, fails), 0u);
  ASSERT_GT(log->append_packed(Kind::result, {"{\"ok\":", "true}"}, copies), 0u);
  log->flush();
  std::vector<std::string> bodies;
  for (const auto& r : log->recent(0, "", 100))
    if (r.kind == Kind::statement || r.kind == Kind::result) bodies.push_back(r.body);
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0], body(1));
  EXPECT_EQ(bodies[1], R"({"unrendered":"renderer out of memory"})");
  EXPECT_EQ(bodies[2], R"({"ok":true})");
  log->close();
  EXPECT_TRUE(f.verify().ok);
}

// What a renderer reads back is what the packer wrote, and a read past the end is noticed.
TEST(AuditPacked, ReadsBackWhatWasPackedAndNoticesAShortRead) {
  std::string bytes;
  PackWriter(bytes)
      .u8(7)
      .u32(70000)
      .u64(1ull << 40)
      .i64(-5)
      .str(std::string_view("a\0b", 3))
      .opt(std::nullopt)
      .opt("");
  PackReader r(bytes);
  EXPECT_EQ(r.u8(), 7u);
  EXPECT_EQ(r.u32(), 70000u);
  EXPECT_EQ(r.u64(), 1ull << 40);
  EXPECT_EQ(r.i64(), -5);
  EXPECT_EQ(r.str(), std::string_view("a\0b", 3));
  EXPECT_EQ(r.opt(), std::nullopt);
  EXPECT_EQ(r.opt(), std::optional<std::string_view>(""));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.done());

  PackReader cut(std::string_view(bytes).substr(0, 10));  // inside the u64
  cut.u8();
  cut.u32();
  EXPECT_EQ(cut.u64(), 0u);
  EXPECT_FALSE(cut.ok());
  EXPECT_EQ(cut.str(), "");
  std::string long_string;
  PackWriter(long_string).str("abcdef");
  PackReader short_string(std::string_view(long_string).substr(0, 6));  // length 6, 2 bytes
  EXPECT_EQ(short_string.str(), "");
  EXPECT_FALSE(short_string.ok());
}

TEST(AuditLog, NoAcknowledgedRecordIsLostInACrash) {
  for (Durability d : {Durability::fsync, Durability::batch}) {
    Fixture f;
    auto o = options(d);
    o.segment_bytes = 64 * 1024;  // several rotations
    auto log = f.open(o);
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([&, t] {
        for (int i = 0; i < 300; ++i) {
          auto ticket = log->append(Kind::statement, body(t * 1000 + i), true);
          if (d == Durability::fsync) {
            ASSERT_TRUE(log->wait_durable(ticket, std::chrono::seconds(5)));
          }
        }
      });
    for (auto& w : writers) w.join();
    if (d == Durability::batch) log->flush();
    // Every event appended so far was acknowledged (fsync: each waited; batch: flushed).
    // Power cut without close(): the writer's buffers and the unsynced tail are gone.
    f.fs.set_fail_writes(true);  // the process is gone: nothing it does now reaches the disk
    f.fs.crash();
    log.reset();
    f.fs.set_fail_writes(false);
    auto recs = f.records();
    ASSERT_FALSE(recs.empty());
    std::size_t events = 0;
    for (const auto& r : recs) events += r.kind == Kind::statement;
    EXPECT_EQ(events, 1200u) << "durability " << static_cast<int>(d);
    // Restart: the chain continues, and the whole log verifies.
    auto again = f.open(o);
    again->append(Kind::statement, body(1));
    again->close();
    auto rep = f.verify();
    EXPECT_TRUE(rep.ok) << rep.error;
    EXPECT_TRUE(rep.sealed);
  }
}

// Sessions on several threads append at once, each into its own stage: the log holds every
// event once, in the order of their tickets (so each thread's events in the order it
// appended them), with times that never go back, and the live tail agrees.
TEST(AuditLog, ThreadsAppendingAtOnceAreWrittenInTicketOrder) {
  Fixture f;
  auto o = options(Durability::batch);
  o.batch_interval = std::chrono::milliseconds(200);  // full stages wake the writer first
  auto log = f.open(o);
  constexpr int kThreads = 4, kEach = 6'000;  // more than a stage holds before it wakes it
  std::vector<std::vector<std::uint64_t>> tickets(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto ticket = log->append(Kind::statement, body(t * kEach + i));
        ASSERT_GT(ticket, 0u);
        if (!tickets[t].empty()) {
          ASSERT_GT(ticket, tickets[t].back());
        }
        tickets[t].push_back(ticket);
      }
    });
  for (auto& w : writers) w.join();
  log->flush();
  std::map<std::string, std::uint64_t> ticket_of;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) ticket_of[body(t * kEach + i)] = tickets[t][i];
  std::uint64_t last_ticket = 0;
  std::int64_t last_time = 0;
  std::size_t events = 0;
  for (const auto& r : f.records()) {
    ASSERT_GE(r.time_us, last_time) << "seq " << r.seq;
    last_time = r.time_us;
    if (r.kind != Kind::statement) continue;
    auto it = ticket_of.find(r.body);
    ASSERT_NE(it, ticket_of.end()) << r.body;
    ASSERT_GT(it->second, last_ticket) << "seq " << r.seq << " is out of ticket order";
    last_ticket = it->second;
    ticket_of.erase(it);  // each event once
    ++events;
  }
  EXPECT_EQ(events, static_cast<std::size_t>(kThreads * kEach));
  auto tail = log->recent(0, "", 100'000);
  ASSERT_EQ(tail.size(), 20'000u);
  for (std::size_t k = 1; k < tail.size(); ++k) {
    ASSERT_GT(tail[k].seq, tail[k - 1].seq);
    ASSERT_GE(tail[k].time_us, tail[k - 1].time_us);
  }
  log->close();
  auto rep = f.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
}

TEST(AuditLog, AWriteFailureRefusesAppendsAndRecovers) {
  Fixture f;
  auto log = f.open();
  auto a = log->append(Kind::statement, body(1));
  ASSERT_TRUE(log->wait_durable(a, std::chrono::seconds(5)));
  f.fs.set_fail_writes(true);
  auto b = log->append(Kind::statement, body(2));
  EXPECT_FALSE(log->wait_durable(b, std::chrono::seconds(5)));
  EXPECT_FALSE(log->health().is_ok());
  EXPECT_EQ(log->append(Kind::statement, body(3)), 0u);  // refused while failing
  f.fs.set_fail_writes(false);
  for (int i = 0; i < 50 && !log->health().is_ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(log->health().is_ok());
  auto c = log->append(Kind::statement, body(4));
  EXPECT_TRUE(log->wait_durable(c, std::chrono::seconds(5)));
  log->close();
  auto rep = f.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
}

// ---- tampering ---------------------------------------------------------------------------

struct Tampered : Fixture {
  std::string seg1 = kDir + "/" + segment_name(1);
  std::string seg2 = kDir + "/" + segment_name(2);
  Witness witness;
  Tampered() {
    auto o = options();
    o.segment_bytes = 40 * 1024;
    auto log = std::make_unique<AuditLog>(o, key, fs,
                                          [this](std::uint64_t seq, const Hash& h, std::uint64_t) {
                                            witness = {seq, h};
                                          });
    EXPECT_TRUE(log->start().is_ok());
    for (int i = 0; i < 1000; ++i) log->append(Kind::statement, body(i));
    log->close();
    auto rep = verify(witness);
    EXPECT_TRUE(rep.ok) << rep.error;
    EXPECT_GE(rep.segments, 3u);
  }
  std::string fails() {
    auto rep = verify(witness);
    return rep.ok ? "" : rep.error;
  }
  // Rewrites segment 1 record by record (1-based index) with valid frames and checksums:
  // `edit` may change a record, and returns false to drop it.
  void reframe_segment1(const std::function<bool(int, std::string&)>& edit) {
    std::string out, rec, why;
    FrameWriter w;
    FrameReader r(fs.data(seg1));
    int i = 0;
    while (r.next(rec, why) == FrameReader::Next::record)
      if (edit(++i, rec)) w.add(rec, out);
    fs.data(seg1) = out;
  }
  std::string last_segment() {
    auto names = *fs.list(kDir);
    return kDir + "/" + *std::max_element(names.begin(), names.end());
  }
  // The records of the last segment, each with the hash of its bytes and the file offset
  // right after it; `more` stops the walk when it returns false.
  struct Read {
    Record record;
    Hash hash;
    std::uint64_t end;
  };
  std::vector<Read> last_segment_records() {
    std::vector<Read> out;
    FrameReader r(fs.data(last_segment()));
    std::string rec, why;
    while (r.next(rec, why) == FrameReader::Next::record)
      out.push_back({*decode_record(rec), hash_bytes(rec), r.offset()});
    return out;
  }
};

TEST(AuditTamper, FlipOneByte) {
  for (std::size_t off : {100u, 5000u, 20000u}) {
    Tampered t;
    t.fs.data(t.seg1)[off] ^= 0x01;
    EXPECT_NE(t.fails(), "") << off;
  }
}

TEST(AuditTamper, DeleteARecord) {
  Tampered t;
  t.reframe_segment1([](int i, std::string&) { return i != 10; });  // without its 10th record
  EXPECT_NE(t.fails().find("seq"), std::string::npos) << t.fails();
}

TEST(AuditTamper, RewriteARecordWithARecomputedCrc) {
  Tampered t;
  t.reframe_segment1([](int i, std::string& rec) {
    if (i == 5) {
      auto pos = rec.find("\"i\":");
      rec[pos + 4] = rec[pos + 4] == '9' ? '8' : '9';
    }
    return true;
  });
  EXPECT_NE(t.fails().find("previous-record hash"), std::string::npos) << t.fails();
}

TEST(AuditTamper, TruncateASegment) {
  Tampered t;
  t.fs.data(t.seg1).resize(t.fs.data(t.seg1).size() / 2);
  EXPECT_NE(t.fails().find("not sealed"), std::string::npos) << t.fails();
}

TEST(AuditTamper, ReorderSegments) {
  Tampered t;
  std::swap(t.fs.data(t.seg1), t.fs.data(t.seg2));
  EXPECT_NE(t.fails().find("reordered"), std::string::npos) << t.fails();
}

TEST(AuditTamper, DeleteASegment) {
  Tampered t;
  (void)t.fs.remove(t.seg1);
  EXPECT_NE(t.fails().find("retention"), std::string::npos) << t.fails();
  Tampered mid;
  (void)mid.fs.remove(mid.seg2);
  EXPECT_NE(mid.fails().find("missing"), std::string::npos) << mid.fails();
}

TEST(AuditTamper, DropTheRecordsAfterTheLastCheckpoint) {
  Tampered t;
  // Cut the last segment right after its last non-final checkpoint (or its start record).
  std::uint64_t cut = 0;
  for (const auto& [d, hash, end] : t.last_segment_records())
    if (d.kind == Kind::segment_start ||
        (d.kind == Kind::checkpoint && d.body.find("\"final\":true") == std::string::npos))
      cut = end;
  t.fs.data(t.last_segment()).resize(cut);
  // Without a witness the log reads as one that stopped abruptly; the state store's record of
  // the last checkpoint shows what is missing.
  auto rep = t.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
  EXPECT_FALSE(rep.sealed);
  EXPECT_NE(t.fails().find("removed from the end"), std::string::npos) << t.fails();
}

TEST(AuditTamper, ForgedCheckpointWithAnotherKey) {
  Tampered t;
  // Re-sign a rewritten log with a different key: the verifier does not know it.
  auto o = options();
  FaultFs other;
  auto forger = std::make_unique<AuditLog>(o, SigningKey::generate(), other);
  ASSERT_TRUE(forger->start().is_ok());
  forger->append(Kind::statement, body(1));
  forger->close();
  auto rep = verify_log(kDir, t.keys, std::nullopt, other);
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.error.find("unknown key"), std::string::npos);
}

TEST(AuditLog, RetentionIsToldApartFromDeletion) {
  Fixture f;
  auto o = options();
  o.segment_bytes = 20 * 1024;
  o.retention_bytes = 60 * 1024;
  auto log = f.open(o);
  for (int i = 0; i < 600; ++i) log->append(Kind::statement, body(i));
  log->close();
  auto names = *f.fs.list(kDir);
  std::sort(names.begin(), names.end());
  ASSERT_NE(names.front(), segment_name(1));  // old segments were removed
  auto rep = f.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
  // Removing one more by hand is not explained by any retention record.
  (void)f.fs.remove(kDir + "/" + names.front());
  rep = f.verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.error.find("retention"), std::string::npos) << rep.error;
}

}  // namespace
}  // namespace sluice::audit

namespace sluice::audit {
namespace {

TEST(AuditLog, TicketsLostToAFailureStayLostAfterRecovery) {
  Fixture f;
  auto log = f.open();
  auto a = log->append(Kind::statement, body(1), true);
  ASSERT_TRUE(log->wait_durable(a, std::chrono::seconds(5)));
  f.fs.set_fail_writes(true);
  auto b = log->append(Kind::statement, body(2), true);
  EXPECT_FALSE(log->wait_durable(b, std::chrono::seconds(5)));
  f.fs.set_fail_writes(false);
  for (int i = 0; i < 50 && !log->health().is_ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(log->health().is_ok());
  auto c = log->append(Kind::statement, body(3), true);
  ASSERT_TRUE(log->wait_durable(c, std::chrono::seconds(5)));
  // b is below the durable mark now, but it was never written: a session holding b and c in
  // one step must not be told its statements were recorded.
  EXPECT_FALSE(log->wait_durable(b, std::chrono::seconds(1)));
  std::promise<bool> both;
  log->on_durable(b, c, [&](bool ok) { both.set_value(ok); });
  EXPECT_FALSE(both.get_future().get());
  log->close();
}

// Writes fail and recover while sessions on four threads keep appending (fsync, each waiting
// for its record): every record a session was told is durable is in the log, the log
// verifies, and the live tail shows none of the records that were lost.
TEST(AuditLog, AFailureWhileThreadsAppendLosesNoAcknowledgedRecord) {
  Fixture f;
  auto log = f.open();
  std::mutex mu;
  std::set<std::string> acknowledged, lost;
  std::atomic<bool> done{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> sessions;
  for (int t = 0; t < 4; ++t)
    sessions.emplace_back([&, t] {
      for (int i = 0; !done; ++i) {
        std::string b = body(t * 1'000'000 + i);
        auto ticket = log->append(Kind::statement, b, true);
        if (ticket == 0) {
          ++refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        bool ok = log->wait_durable(ticket, std::chrono::seconds(5));
        std::lock_guard lk(mu);
        (ok ? acknowledged : lost).insert(b);
      }
    });
  auto count = [&](const std::set<std::string>& s) {
    std::lock_guard lk(mu);
    return s.size();
  };
  auto until = [](auto&& cond) {
    for (int i = 0; i < 1000 && !cond(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return cond();
  };
  EXPECT_TRUE(until([&] { return count(acknowledged) >= 200; }));
  f.fs.set_fail_writes(true);
  EXPECT_TRUE(until([&] { return !log->health().is_ok() && refused > 0; }));
  f.fs.set_fail_writes(false);
  EXPECT_TRUE(until([&] { return log->health().is_ok(); }));
  const std::size_t before = count(acknowledged);
  EXPECT_TRUE(until([&] { return count(acknowledged) >= before + 200; }));
  done = true;
  for (auto& s : sessions) s.join();
  EXPECT_GT(count(lost), 0u) << "some records were in flight when the writes failed";
  auto tail = log->recent(0, "", 100'000);
  log->close();
  std::set<std::string> logged;
  for (const auto& r : f.records())
    if (r.kind == Kind::statement) logged.insert(r.body);
  for (const auto& b : acknowledged) ASSERT_TRUE(logged.count(b)) << "acknowledged, not logged";
  for (const auto& r : tail) ASSERT_FALSE(lost.count(r.body)) << "the tail shows a lost record";
  auto rep = f.verify();
  EXPECT_TRUE(rep.ok) << rep.error;
}

TEST(AuditTamper, AnUnsignedRecoveryClaimIsNotTrusted) {
  Tampered t;
  // Cut the last segment before its seal and add a segment that claims a crash recovery.
  std::string last = t.last_segment();
  auto records = t.last_segment_records();
  ASSERT_GE(records.size(), 3u);
  Record kept = records[2].record;  // keep three records
  kept.prev = records[2].hash;      // (reused below as the hash of this record)
  t.fs.data(last).resize(records[2].end);
  std::uint64_t next_segment = parse_segment_name(last.substr(kDir.size() + 1)) + 1;
  Record start{Kind::segment_start, kept.seq + 1, 0, kept.prev,
               "{\"segment\":" + std::to_string(next_segment) +
                   ",\"recovered\":{\"segment\":1,\"last_seq\":" + std::to_string(kept.seq) +
                   ",\"last_hash\":\"" + hex(kept.prev) + "\",\"reason\":\"forged\"}}"};
  std::string out;
  FrameWriter w;
  w.add(encode_record(start), out);
  auto f = t.fs.create(kDir + "/" + segment_name(next_segment));
  ASSERT_TRUE(f.is_ok());
  ASSERT_TRUE((*f)->append(out).is_ok());
  auto rep = t.verify();  // even without the state store's witness
  EXPECT_FALSE(rep.ok);
  EXPECT_NE(rep.error.find("not signed"), std::string::npos) << rep.error;
}

TEST(AuditTamper, TheGatewayRefusesToContinueALogCutWhileItWasDown) {
  Tampered t;
  std::string last = t.last_segment();
  t.fs.data(last).resize(t.fs.data(last).size() / 2);
  AuditLog log(options(), t.key, t.fs);
  Status st = log.start(std::make_pair(t.witness.seq, t.witness.hash));
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("truncated or altered"), std::string::npos) << st.message();
  EXPECT_EQ(log.append(Kind::statement, body(1)), 0u);  // fail closed
  log.close();
}

}  // namespace
}  // namespace sluice::audit
