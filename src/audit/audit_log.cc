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
  Record r{Kind::segment_start, head_seq_ + 1, now_us(), head_, std::move(body)};
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

std::uint64_t AuditLog::append_entry(Kind kind, std::initializer_list<std::string_view> parts,
                                     Finish finish, std::shared_ptr<const void> held,
                                     bool awaited) {
  constexpr std::size_t kWakeAt = 4096;  // bounds the queue between passes
  std::lock_guard lk(mu_);
  if (!failed_.is_ok() || stop_ || !started_) return 0;
  std::uint64_t ticket = next_ticket_++;
  Block& b = *staged_;
  // The bytes first: should either step throw, no entry points at bytes that are not there.
  const std::size_t offset = b.bytes.size();
  for (std::string_view part : parts) b.bytes.append(part);
  // The time is read under the lock, so that records' times follow their order.
  b.entries.push_back(
      {ticket, kind, now_us(), offset, b.bytes.size() - offset, finish, std::move(held), false});
  bool wake = b.entries.size() == kWakeAt;
  if (awaited && options_.durability == Durability::fsync && awaited_queued_++ == 0) wake = true;
  if (wake) cv_.notify_one();
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
  std::uint64_t target = next_ticket_ - 1;
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

void AuditLog::add_record(Kind kind, std::int64_t time_us, std::string_view body,
                          std::string& out) {
  encode_record(kind, head_seq_ + 1, time_us, head_, body, record_);
  frames_.add(record_, out);
  head_ = hash_bytes(record_);
  ++head_seq_;
  ++since_checkpoint_;
}

// Keeps the records a pass just added (`added`: their seqs and entries in `block`) for the
// live tail, under one lock. The tail's byte budget counts whole blocks, since a block stays
// in memory while any of its records is kept; blocks that leave the tail go back to the
// writer for reuse.
void AuditLog::remember(const std::shared_ptr<const Block>& block,
                        const std::vector<std::pair<std::uint64_t, std::size_t>>& added) {
  constexpr std::size_t kRecentRecords = 20'000;
  constexpr std::size_t kRecentBytes = 64 << 20;
  if (added.empty()) return;
  std::lock_guard lk(recent_mu_);
  auto release = [this](std::shared_ptr<const Block> gone, const RecentRef* neighbour) {
    if (neighbour && neighbour->block == gone) return;  // other records still hold it
    recent_bytes_ -= gone->footprint();
    // Reused unless a burst made it large: that memory goes back to the allocator.
    if (gone.use_count() == 1 && free_blocks_.size() < 2 &&
        gone->bytes.capacity() + gone->finished.capacity() <= (8u << 20))
      free_blocks_.push_back(std::const_pointer_cast<Block>(std::move(gone)));
  };
  // After a failed write the chain resumes at an earlier seq: drop what was not kept.
  while (!recent_.empty() && recent_.back().seq >= added.front().first) {
    std::shared_ptr<const Block> gone = std::move(recent_.back().block);
    recent_.pop_back();
    release(std::move(gone), recent_.empty() ? nullptr : &recent_.back());
  }
  if (recent_.empty() || recent_.back().block != block) recent_bytes_ += block->footprint();
  for (const auto& [seq, index] : added) {
    const Block::Entry& e = block->entries[index];
    recent_.push_back({seq, e.kind, e.time_us, block, block->body(e)});
  }
  while (recent_.size() > kRecentRecords || recent_bytes_ > kRecentBytes) {
    std::shared_ptr<const Block> gone = std::move(recent_.front().block);
    recent_.pop_front();
    release(std::move(gone), recent_.empty() ? nullptr : &recent_.front());
  }
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
      if (next_ticket_ - 1 > durable_) lost_.emplace_back(durable_ + 1, next_ticket_ - 1);
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
    dropped = staged_->entries.size();
    staged_->clear();
    awaited_queued_ = 0;
  }
  if (file_) (void)file_->close();
  file_.reset();
  // What was written but not synced may or may not be on disk: the chain resumes after the
  // last record known to be, and the new segment says so.
  bool lost = head_seq_ > synced_seq_ || dropped > 0;
  head_ = synced_head_;
  head_seq_ = synced_seq_;
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
  for (;;) {
    std::shared_ptr<Block> batch;
    bool stopping, flush;
    if (!spare_) {
      std::lock_guard lk(recent_mu_);
      if (!free_blocks_.empty()) {
        spare_ = std::move(free_blocks_.back());
        free_blocks_.pop_back();
        spare_->clear();
      }
    }
    if (!spare_) spare_ = std::make_shared<Block>();
    {
      std::unique_lock lk(mu_);
      // Records nobody waits for (results, session events) are written and synced within
      // batch_interval; checkpoints are due every checkpoint_interval.
      auto wait = options_.batch_interval;
      if (!failed_.is_ok()) wait = std::chrono::milliseconds(1000);
      cv_.wait_for(lk, wait, [&] {
        return stop_ || (awaited_queued_ > 0 && failed_.is_ok()) ||
               staged_->entries.size() >= 4096 || flush_requested_ > durable_;
      });
      awaited_queued_ = 0;
      stopping = stop_;
      if (!failed_.is_ok()) {
        if (stopping) break;
        // Retry: a new segment that says where the chain resumes.
        lk.unlock();
        Status st = recovered_ ? open_segment(segment_ + 1, retry_reason_) : recover_and_open();
        lk.lock();
        if (st.is_ok()) {
          failed_ = Status::ok();
          durable_ = next_ticket_ - 1;  // everything before was answered (refused)
          log::info("audit", "the audit log is writable again (", segment_name(segment_), ")");
        }
        continue;
      }
      flush = flush_requested_ > durable_;
      if (!staged_->entries.empty()) batch = std::exchange(staged_, std::move(spare_));
    }
    std::uint64_t written = written_ticket_;  // the last ticket in `buf` or on disk
    Status st;
    if (batch) {
      finish(*batch);
      added_.clear();
      for (std::size_t i = 0; i < batch->entries.size(); ++i) {
        const Block::Entry& e = batch->entries[i];
        if (frames_.offset() >= options_.segment_bytes) {
          st = rotate(buf, written);
          if (!st.is_ok()) break;
        }
        add_record(e.kind, e.time_us, batch->body(e), buf);
        added_.emplace_back(head_seq_, i);
        written = written_ticket_ = e.ticket;
      }
      remember(batch, added_);
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
    if (stopping) {
      std::lock_guard lk(mu_);
      if (staged_->entries.empty()) break;
    }
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
