#include "audit/audit_log.h"

#include <algorithm>
#include <cstdio>

#include "audit/event_body.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "crypto/primitives.h"

namespace sluice::audit {
namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string segment_name(std::uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llu.slog", static_cast<unsigned long long>(n));
  return buf;
}

std::uint64_t parse_segment_name(std::string_view name) {
  if (name.size() != 13 || name.substr(8) != ".slog") return 0;
  std::uint64_t n = 0;
  for (char c : name.substr(0, 8)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

AuditLog::AuditLog(AuditOptions options, SigningKey key, FileSystem& fs, CheckpointSink sink)
    : options_(std::move(options)), key_(std::move(key)), fs_(fs), sink_(std::move(sink)) {}

AuditLog::~AuditLog() {
  close();
}

Status AuditLog::start(std::optional<std::pair<std::uint64_t, Hash>> witness) {
  witness_ = witness;
  Status st = recover_and_open();
  std::lock_guard lk(mu_);
  if (!st.is_ok()) failed_ = st;
  started_ = true;
  accepting_ = failed_.is_ok();
  last_checkpoint_ = std::chrono::steady_clock::now();
  writer_ = std::thread([this] { run(); });
  return st;
}

// Finds where the previous run stopped (the last intact record of the newest segment),
// checks it against the state store's witness, and opens the next segment.
Status AuditLog::recover_and_open() {
  std::uint64_t last_segment = 0;
  std::string recovered;
  head_ = Hash{};
  head_seq_ = 0;
  SLUICE_TRY(fs_.make_dir(options_.dir));
  auto names = fs_.list(options_.dir);
  if (!names) return names.status();
  for (const auto& n : *names) last_segment = std::max(last_segment, parse_segment_name(n));
  if (last_segment > 0) {
    auto data = fs_.read(options_.dir + "/" + segment_name(last_segment));
    if (!data) return data.status();
    FrameReader reader(*data);
    std::string rec, why;
    bool sealed = false;
    std::uint64_t good_end = 0, first_seq = 0;
    bool witness_matches = false;
    for (;;) {
      auto next = reader.next(rec, why);
      if (next != FrameReader::Next::record) break;
      auto r = decode_record(rec);
      if (!r) break;
      head_ = hash_bytes(rec);
      head_seq_ = r->seq;
      if (!first_seq) first_seq = r->seq;
      if (witness_ && r->seq == witness_->first) witness_matches = head_ == witness_->second;
      good_end = reader.offset();
      sealed = r->kind == Kind::checkpoint && r->body.find("\"final\":true") != std::string::npos;
    }
    if (head_seq_ == 0)
      return error(Code::failed_precondition,
                   "audit segment " + segment_name(last_segment) +
                       " has no readable record; check the log with sluice audit verify, then "
                       "move that file aside");
    // The log must still hold the last checkpoint the state store saw: otherwise it was cut
    // or altered while the gateway was stopped, and continuing would sign over that.
    if (witness_ && witness_->first >= first_seq && !witness_matches)
      return error(Code::failed_precondition,
                   "the audit log does not hold the checkpoint the state store recorded (seq " +
                       std::to_string(witness_->first) +
                       "): it was truncated or altered while "
                       "the gateway was stopped. Run sluice audit verify and investigate; "
                       "statements are refused until the log is sound");
    if (!sealed) {
      std::string body;
      JsonWriter w(body);
      w.begin_object()
          .field("segment", last_segment)
          .field("last_seq", head_seq_)
          .field("last_hash", hex(head_))
          .field("reason", std::string_view("the previous run stopped without sealing"))
          .field("torn_bytes", static_cast<std::uint64_t>(data->size() - good_end))
          .end_object();
      recovered = body;
      log::warn("audit", "segment ", segment_name(last_segment),
                " was not sealed (the gateway stopped abruptly); continuing the chain after "
                "seq ",
                head_seq_, (data->size() > good_end ? " (a torn tail was left in place)" : ""));
    }
  }
  if (last_segment == 0 && witness_)
    log::warn("audit", "the audit directory ", options_.dir,
              " is empty, but the state store "
              "saw this node's log up to seq ",
              witness_->first,
              ": starting a new log; sluice audit verify reports the old one as removed");
  segment_ = last_segment;
  SLUICE_TRY(open_segment(last_segment + 1, recovered));
  recovered_ = true;
  return Status::ok();
}

Status AuditLog::open_segment(std::uint64_t number, const std::string& recovered) {
  std::string path = options_.dir + "/" + segment_name(number);
  auto f = fs_.create(path);
  if (!f) return f.status();
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("segment", number)
      .field("node", options_.node)
      .field("key_id", key_.key_id());
  if (!recovered.empty()) body += ",\"recovered\":" + recovered;
  body += "}";
  std::string buf;
  FrameWriter frames(0);
  Record r{Kind::segment_start, head_seq_ + 1, record_time(now_us()), head_, std::move(body)};
  std::string bytes = encode_record(r);
  frames.add(bytes, buf);
  // The new file and its directory entry are durable before anything in it counts.
  Status st = (*f)->append(buf);
  if (st.is_ok()) st = (*f)->sync();
  if (st.is_ok()) st = fs_.sync_dir(options_.dir);
  if (!st.is_ok()) {
    // Leave no half-made segment behind: the retry creates the same number again.
    (void)(*f)->close();
    (void)fs_.remove(path);
    (void)fs_.sync_dir(options_.dir);
    return st;
  }
  file_ = std::move(*f);
  segment_ = number;
  frames_ = frames;
  head_ = hash_bytes(bytes);
  head_seq_ = r.seq;
  synced_head_ = head_;
  synced_seq_ = head_seq_;
  since_checkpoint_ = 1;
  return Status::ok();
}

std::uint64_t AuditLog::append(Kind kind, std::string_view body, bool awaited) {
  return append_entry(kind, {body}, nullptr, nullptr, awaited);
}

std::uint64_t AuditLog::append_packed(Kind kind, std::initializer_list<std::string_view> packed,
                                      Finish finish, std::shared_ptr<const void> held,
                                      bool awaited) {
  return append_entry(kind, packed, finish, std::move(held), awaited);
}

AuditLog::Stage& AuditLog::my_stage() {
  // Threads take stages in turn as they first append. The gateway's workers start appending
  // within moments of each other, so they get stages of their own unless eight other
  // threads appended between them; a shared stage costs contention, nothing else.
  static std::atomic<std::size_t> threads{0};
  thread_local const std::size_t index = threads.fetch_add(1) % kStages;
  return stages_[index];
}

std::uint64_t AuditLog::append_entry(Kind kind, std::initializer_list<std::string_view> parts,
                                     Finish finish, std::shared_ptr<const void> held,
                                     bool awaited) {
  constexpr std::size_t kWakeAt = 4096;  // bounds a stage's queue between passes
  Stage& stage = my_stage();
  std::uint64_t ticket;
  bool wake;
  {
    std::lock_guard lk(stage.mu);
    if (!accepting_) return 0;
    Block& b = *stage.block;
    // The bytes first: should either step throw, no entry points at bytes that are not there.
    const std::size_t offset = b.bytes.size();
    for (std::string_view part : parts) b.bytes.append(part);
    if (b.entries.size() == b.entries.capacity())
      b.entries.reserve(std::max<std::size_t>(64, 2 * b.entries.capacity()));
    // Tickets follow the order of appends across threads (a session's events are ordered by
    // its thread, or by the hand-over between threads); the writer writes in ticket order.
    // With room reserved, nothing below throws: every ticket issued is an entry (flush()
    // waits for the last one issued).
    ticket = next_ticket_.fetch_add(1);
    b.entries.push_back(
        {ticket, kind, now_us(), offset, b.bytes.size() - offset, finish, std::move(held), false});
    wake = b.entries.size() == kWakeAt || (awaited && options_.durability == Durability::fsync);
  }
  if (wake && !wake_.load() && !wake_.exchange(true)) {
    // Taking mu_ orders this after the writer's check of wake_, or after it started to wait.
    std::lock_guard lk(mu_);
    cv_.notify_one();
  }
  return ticket;
}

bool AuditLog::lost_locked(std::uint64_t first, std::uint64_t last) const {
  for (const auto& [lo, hi] : lost_)
    if (first <= hi && lo <= last) return true;
  return false;
}

void AuditLog::on_durable(std::uint64_t first, std::uint64_t last, std::function<void(bool)> done) {
  std::unique_lock lk(mu_);
  if (lost_locked(first, last)) {
    lk.unlock();
    done(false);
    return;
  }
  if (durable_ >= last) {
    lk.unlock();
    done(true);
    return;
  }
  if (!failed_.is_ok() || stop_) {
    lk.unlock();
    done(false);
    return;
  }
  waiters_.push_back({first, last, std::move(done)});
}

bool AuditLog::wait_durable(std::uint64_t ticket, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  durable_cv_.wait_for(lk, timeout, [&] { return durable_ >= ticket || !failed_.is_ok(); });
  return durable_ >= ticket && !lost_locked(ticket, ticket);
}

Status AuditLog::health() const {
  std::lock_guard lk(mu_);
  return failed_;
}

std::uint64_t AuditLog::durable_ticket() const {
  std::lock_guard lk(mu_);
  return durable_;
}

void AuditLog::flush() {
  std::unique_lock lk(mu_);
  if (!writer_.joinable()) return;
  std::uint64_t target = next_ticket_.load() - 1;
  flush_requested_ = std::max(flush_requested_, target);
  cv_.notify_one();
  durable_cv_.wait_for(lk, std::chrono::seconds(10),
                       [&] { return durable_ >= target || !failed_.is_ok(); });
}

void AuditLog::close() {
  {
    std::lock_guard lk(mu_);
    if (!writer_.joinable()) return;
    stop_ = true;
    accepting_ = false;
    cv_.notify_one();
  }
  writer_.join();
}

std::vector<AuditLog::Recent> AuditLog::recent(std::uint64_t after, std::string_view session,
                                               std::size_t max) const {
  // The references are copied under the lock; the search and the rendering of bodies are done
  // outside it (blocks do not change once written), so the writer is not held up.
  std::vector<RecentRef> refs;
  {
    std::lock_guard lk(recent_mu_);
    auto it = std::lower_bound(recent_.begin(), recent_.end(), after + 1,
                               [](const RecentRef& r, std::uint64_t s) { return r.seq < s; });
    refs.assign(it, recent_.end());
  }
  std::vector<Recent> out;
  for (const auto& r : refs) {
    if (out.size() >= max) break;
    if (!session.empty() && !body_has_session(r.body, session)) continue;
    auto json = body_json(r.kind, r.body);
    out.push_back({r.seq, r.kind, r.time_us, json ? std::move(*json) : json.status().message()});
  }
  return out;
}

void AuditLog::finish(Block& block) {
  for (auto& e : block.entries) {
    if (!e.finish || e.finished) continue;
    const std::size_t at = block.finished.size();
    try {
      e.finish(std::string_view(block.bytes).substr(e.offset, e.size), e.held, block.finished);
    } catch (const std::exception& ex) {
      // Out of memory, in practice. The record still takes its place in the chain, saying
      // what it could not hold, rather than the writer thread ending the process.
      block.finished.resize(at);
      std::string body;
      JsonWriter(body).begin_object().field("unrendered", std::string_view(ex.what())).end_object();
      block.finished += body;
      log::error("audit", "a ", kind_name(e.kind), " record could not be written: ", ex.what());
    }
    e.offset = at;
    e.size = block.finished.size() - at;
    e.finished = true;
    e.held.reset();
  }
}

std::int64_t AuditLog::record_time(std::int64_t t) {
  constexpr std::int64_t kReadApart = 1'000'000;  // more than that back is the clock's own step
  if (t < last_time_us_ && last_time_us_ - t < kReadApart) t = last_time_us_;
  last_time_us_ = t;
  return t;
}

std::int64_t AuditLog::add_record(Kind kind, std::int64_t time_us, std::string_view body,
                                  std::string& out) {
  time_us = record_time(time_us);
  encode_record(kind, head_seq_ + 1, time_us, head_, body, record_);
  frames_.add(record_, out);
  head_ = hash_bytes(record_);
  ++head_seq_;
  ++since_checkpoint_;
  return time_us;
}

// Keeps the records a pass just added (`added`: their seqs and entries in `pass`) for the
// live tail, under one lock. The tail's byte budget counts whole passes, since a pass stays
// in memory while any of its records is kept; the blocks of a pass that leaves the tail go
// back to the writer for reuse.
void AuditLog::remember(const std::shared_ptr<const Pass>& pass, const std::vector<Added>& added) {
  constexpr std::size_t kRecentRecords = 20'000;
  constexpr std::size_t kRecentBytes = 64 << 20;
  if (added.empty()) return;
  std::lock_guard lk(recent_mu_);
  // (After a failed write, fail() dropped the records the chain took back: these come after.)
  recent_bytes_ += pass->footprint();
  for (const Added& a : added) {
    const Block& b = *pass->blocks[a.block];
    const Block::Entry& e = b.entries[a.index];
    recent_.push_back({a.seq, e.kind, e.time_us, pass, b.body(e)});
  }
  while (recent_.size() > kRecentRecords || recent_bytes_ > kRecentBytes) {
    std::shared_ptr<const Pass> gone = std::move(recent_.front().pass);
    recent_.pop_front();
    release_locked(std::move(gone), recent_.empty() ? nullptr : &recent_.front());
  }
}

void AuditLog::release_locked(std::shared_ptr<const Pass> gone, const RecentRef* neighbour) {
  constexpr std::size_t kFreeBlocks = 4;               // two per worker on a 2-core host
  constexpr std::size_t kReusedBlockBytes = 4u << 20;  // larger after a burst: freed
  if (neighbour && neighbour->pass == gone) return;    // other records still hold it
  recent_bytes_ -= gone->footprint();
  if (gone.use_count() > 1) return;  // a reader of the tail still holds it
  for (const auto& b : gone->blocks)
    if (free_blocks_.size() < kFreeBlocks && b.use_count() == 1 &&
        b->capacity() <= kReusedBlockBytes)
      free_blocks_.push_back(b);
}

// Drops the tail's records after `seq`: a failed write took them back (the chain resumes
// after the last record known to be on disk), so nobody may be shown them as recorded.
void AuditLog::forget_after_locked(std::uint64_t seq) {
  while (!recent_.empty() && recent_.back().seq > seq) {
    std::shared_ptr<const Pass> gone = std::move(recent_.back().pass);
    recent_.pop_back();
    release_locked(std::move(gone), recent_.empty() ? nullptr : &recent_.back());
  }
}

std::shared_ptr<AuditLog::Pass> AuditLog::cut(std::vector<std::shared_ptr<Block>>& spares) {
  auto pass = std::make_shared<Pass>();
  pass->blocks.reserve(kStages);
  {
    std::array<std::unique_lock<std::mutex>, kStages> held;
    for (std::size_t i = 0; i < kStages; ++i) held[i] = std::unique_lock(stages_[i].mu);
    for (Stage& s : stages_) {
      if (s.block->entries.empty()) continue;
      pass->blocks.push_back(std::exchange(s.block, std::move(spares.back())));
      spares.pop_back();
    }
  }
  if (pass->blocks.empty()) return nullptr;
  return pass;
}

std::size_t AuditLog::clear_stages() {
  std::size_t dropped = 0;
  for (Stage& s : stages_) {
    std::lock_guard lk(s.mu);
    dropped += s.block->entries.size();
    s.block->clear();
  }
  return dropped;
}

bool AuditLog::stages_empty() {
  for (Stage& s : stages_) {
    std::lock_guard lk(s.mu);
    if (!s.block->entries.empty()) return false;
  }
  return true;
}

void AuditLog::add_checkpoint(bool final, std::string& out) {
  std::uint64_t seq = head_seq_ + 1;
  std::string sig = key_.sign(checkpoint_message(seq, head_, segment_, final));
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("segment", segment_)
      .field("key_id", key_.key_id())
      .field("sig", crypto::base64_encode(sig))
      .field("final", final)
      .end_object();
  add_record(Kind::checkpoint, now_us(), std::move(body), out);
  since_checkpoint_ = 0;
}

Status AuditLog::write_out(std::string& buf, bool sync, std::uint64_t written_ticket) {
  Status st = buf.empty() ? Status::ok() : file_->append(buf);
  buf.clear();
  if (!st.is_ok()) return st;
  if (sync && head_seq_ > synced_seq_) st = file_->sync();
  if (!st.is_ok()) return st;
  if (sync) {
    synced_head_ = head_;
    synced_seq_ = head_seq_;
    last_sync_ = std::chrono::steady_clock::now();
  }
  if (sync || options_.durability == Durability::none) complete_waiters(written_ticket, false);
  return Status::ok();
}

Status AuditLog::rotate(std::string& buf, std::uint64_t written_ticket) {
  add_checkpoint(true, buf);
  SLUICE_TRY(write_out(buf, true, written_ticket));
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (sink_) sink_(head_seq_, head_, segment_);
  (void)file_->close();
  file_.reset();
  SLUICE_TRY(open_segment(segment_ + 1, ""));
  return apply_retention(buf, written_ticket);
}

void AuditLog::complete_waiters(std::uint64_t durable, bool failed) {
  std::vector<std::pair<Waiter, bool>> ready;
  {
    std::lock_guard lk(mu_);
    if (failed) {
      // Everything appended and not yet durable is lost, whatever happens next.
      const std::uint64_t last = next_ticket_.load() - 1;
      if (last > durable_) lost_.emplace_back(durable_ + 1, last);
    } else {
      durable_ = std::max(durable_, durable);
    }
    auto it = std::partition(waiters_.begin(), waiters_.end(),
                             [&](const Waiter& w) { return !(failed || w.ticket <= durable_); });
    for (auto w = it; w != waiters_.end(); ++w) {
      bool ok = !failed && w->ticket <= durable_ && !lost_locked(w->first, w->ticket);
      ready.emplace_back(std::move(*w), ok);
    }
    waiters_.erase(it, waiters_.end());
  }
  durable_cv_.notify_all();
  for (auto& [w, ok] : ready) w.done(ok);
}

void AuditLog::fail(const Status& st) {
  log::error("audit", "cannot write the audit log: ", st.message(),
             "; statements are refused until it can be written");
  std::size_t dropped = 0;
  {
    std::lock_guard lk(mu_);
    failed_ = st;
    accepting_ = false;
    dropped = clear_stages();
    wake_ = false;
  }
  if (file_) (void)file_->close();
  file_.reset();
  // What was written but not synced may or may not be on disk: the chain resumes after the
  // last record known to be, and the new segment says so.
  bool lost = head_seq_ > synced_seq_ || dropped > 0;
  head_ = synced_head_;
  head_seq_ = synced_seq_;
  {
    std::lock_guard lk(recent_mu_);
    forget_after_locked(synced_seq_);
  }
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("segment", segment_)
      .field("last_seq", head_seq_)
      .field("last_hash", hex(head_))
      .field("reason", "write error: " + st.message() +
                           (lost ? "; events after last_seq were not recorded and their "
                                   "statements were refused"
                                 : ""))
      .end_object();
  retry_reason_ = body;
  complete_waiters(0, true);
}

void AuditLog::run() {
  using Clock = std::chrono::steady_clock;
  std::string buf;
  // Empty blocks, one for each stage a cut may take: reused ones from the tail first (their
  // memory is warm and sized), new ones when the tail has none to give back.
  std::vector<std::shared_ptr<Block>> spares;
  for (;;) {
    std::shared_ptr<Pass> pass;
    bool stopping, flush;
    {
      std::lock_guard lk(recent_mu_);
      while (spares.size() < kStages && !free_blocks_.empty()) {
        spares.push_back(std::move(free_blocks_.back()));
        free_blocks_.pop_back();
        spares.back()->clear();
      }
    }
    while (spares.size() < kStages) spares.insert(spares.begin(), std::make_shared<Block>());
    {
      std::unique_lock lk(mu_);
      // Records nobody waits for (results, session events) are written and synced within
      // batch_interval; checkpoints are due every checkpoint_interval.
      auto wait = options_.batch_interval;
      if (!failed_.is_ok()) wait = std::chrono::milliseconds(1000);
      cv_.wait_for(lk, wait, [&] {
        return stop_ || (wake_ && failed_.is_ok()) || flush_requested_ > durable_;
      });
      wake_ = false;
      stopping = stop_;
      if (!failed_.is_ok()) {
        if (stopping) break;
        // Retry: a new segment that says where the chain resumes.
        lk.unlock();
        Status st = recovered_ ? open_segment(segment_ + 1, retry_reason_) : recover_and_open();
        lk.lock();
        if (st.is_ok()) {
          failed_ = Status::ok();
          durable_ = next_ticket_.load() - 1;  // everything before was answered (refused)
          accepting_ = !stop_;
          log::info("audit", "the audit log is writable again (", segment_name(segment_), ")");
        }
        continue;
      }
      flush = flush_requested_ > durable_;
      pass = cut(spares);
    }
    std::uint64_t written = written_ticket_;  // the last ticket in `buf` or on disk
    Status st;
    if (pass) {
      for (auto& b : pass->blocks) finish(*b);
      added_.clear();
      // Each stage's entries are in ticket order: merge them.
      const std::size_t n = pass->blocks.size();
      std::array<std::uint32_t, kStages> at{};
      for (;;) {
        std::size_t pick = n;
        for (std::size_t i = 0; i < n; ++i) {
          const auto& entries = pass->blocks[i]->entries;
          if (at[i] < entries.size() &&
              (pick == n || entries[at[i]].ticket < pass->blocks[pick]->entries[at[pick]].ticket))
            pick = i;
        }
        if (pick == n) break;
        Block& b = *pass->blocks[pick];
        Block::Entry& e = b.entries[at[pick]];
        if (frames_.offset() >= options_.segment_bytes) {
          st = rotate(buf, written);
          if (!st.is_ok()) break;
        }
        e.time_us = add_record(e.kind, e.time_us, b.body(e), buf);  // as written, for the tail
        added_.push_back({head_seq_, static_cast<std::uint32_t>(pick), at[pick]});
        written = written_ticket_ = e.ticket;
        ++at[pick];
      }
      remember(pass, added_);
    }
    written = written_ticket_;
    if (!st.is_ok()) {
      fail(st);
      continue;
    }
    auto now = Clock::now();
    // Stopping always seals the segment, so that verify can tell a clean stop from a cut.
    bool checkpoint =
        stopping || ((flush || now - last_checkpoint_ >= options_.checkpoint_interval) &&
                     since_checkpoint_ > 0);
    if (checkpoint) add_checkpoint(stopping, buf);
    bool sync =
        options_.durability == Durability::fsync ||
        (options_.durability == Durability::batch && now - last_sync_ >= options_.batch_interval) ||
        checkpoint || flush;
    if (buf.empty() && !sync) continue;
    st = write_out(buf, sync, written);
    if (!st.is_ok()) {
      fail(st);
      continue;
    }
    if (checkpoint) {
      last_checkpoint_ = Clock::now();
      if (sink_) sink_(head_seq_, head_, segment_);
    }
    if (stopping && stages_empty()) break;
  }
  if (file_) (void)file_->close();
  file_.reset();
  complete_waiters(0, true);
}

// Removes the oldest sealed segments beyond retention_bytes. The retention record naming
// them is written, signed by a checkpoint and synced first, then the files go: a crash in
// between leaves extra segments, never a gap that nothing accounts for.
Status AuditLog::apply_retention(std::string& out, std::uint64_t written_ticket) {
  if (options_.retention_bytes == 0) return Status::ok();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> segs;  // number, bytes
  auto names = fs_.list(options_.dir);
  if (!names) return Status::ok();
  for (const auto& name : *names)
    if (auto n = parse_segment_name(name); n && n < segment_)
      if (auto size = fs_.size(options_.dir + "/" + name)) segs.emplace_back(n, *size);
  std::sort(segs.begin(), segs.end());
  std::uint64_t total = 0;
  for (const auto& seg : segs) total += seg.second;
  std::string removed;
  JsonWriter w(removed);
  w.begin_array();
  std::vector<std::uint64_t> doomed;
  for (std::size_t i = 0; i < segs.size() && total > options_.retention_bytes; ++i) {
    // What verify needs to tell this removal from an attacker's: the hash the next segment's
    // first record chains to.
    // Its first record (segment_start, well under one block) is all that is needed.
    auto next = fs_.read(options_.dir + "/" + segment_name(segs[i].first + 1), kBlockSize);
    if (!next) break;
    FrameReader reader(*next);
    std::string rec, why;
    if (reader.next(rec, why) != FrameReader::Next::record) break;
    auto r = decode_record(rec);
    if (!r) break;
    total -= segs[i].second;
    w.begin_object()
        .field("segment", segs[i].first)
        .field("next_first_seq", r->seq)
        .field("chain", hex(r->prev))
        .end_object();
    doomed.push_back(segs[i].first);
  }
  w.end_array();
  if (doomed.empty()) return Status::ok();
  add_record(Kind::retention, now_us(), "{\"removed\":" + removed + "}", out);
  add_checkpoint(false, out);
  SLUICE_TRY(write_out(out, true, written_ticket));
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (sink_) sink_(head_seq_, head_, segment_);
  for (auto n : doomed) (void)fs_.remove(options_.dir + "/" + segment_name(n));
  (void)fs_.sync_dir(options_.dir);
  return Status::ok();
}

}  // namespace sluice::audit
