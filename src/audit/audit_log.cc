#include "audit/audit_log.h"

#include <algorithm>
#include <cstdio>

#include "core/json_writer.h"
#include "core/log.h"

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

Status AuditLog::start() {
  // Find where the previous run stopped: the last intact record of the newest segment.
  std::uint64_t last_segment = 0;
  std::string recovered;
  Status st = fs_.make_dir(options_.dir);
  if (st.is_ok()) {
    auto names = fs_.list(options_.dir);
    if (!names) {
      st = names.status();
    } else {
      for (const auto& n : *names) last_segment = std::max(last_segment, parse_segment_name(n));
    }
  }
  if (st.is_ok() && last_segment > 0) {
    auto data = fs_.read(options_.dir + "/" + segment_name(last_segment));
    if (!data) {
      st = data.status();
    } else {
      FrameReader reader(*data);
      std::string rec, why;
      bool sealed = false;
      std::uint64_t good_end = 0;
      for (;;) {
        auto next = reader.next(rec, why);
        if (next != FrameReader::Next::record) break;
        auto r = decode_record(rec);
        if (!r) break;
        head_ = hash_bytes(rec);
        head_seq_ = r->seq;
        good_end = reader.offset();
        sealed = r->kind == Kind::checkpoint && r->body.find("\"final\":true") != std::string::npos;
      }
      if (head_seq_ == 0) {
        st = error(Code::failed_precondition,
                   "audit segment " + segment_name(last_segment) +
                       " has no readable record; move it aside after checking it with sluice "
                       "audit verify");
      } else if (!sealed) {
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
  }
  if (st.is_ok()) st = open_segment(last_segment + 1, recovered);
  std::lock_guard lk(mu_);
  synced_head_ = head_;
  synced_seq_ = head_seq_;
  if (!st.is_ok()) {
    failed_ = st;
    segment_ = last_segment;
    retry_reason_ = recovered;
  }
  started_ = true;
  last_checkpoint_ = std::chrono::steady_clock::now();
  writer_ = std::thread([this] { run(); });
  return st;
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
    (void)(*f)->close();
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

std::uint64_t AuditLog::append(Kind kind, std::string body, bool awaited) {
  constexpr std::size_t kWakeAt = 4096;  // bounds the queue between passes
  std::lock_guard lk(mu_);
  if (!failed_.is_ok() || stop_ || !started_) return 0;
  std::uint64_t ticket = next_ticket_++;
  queue_.push_back({ticket, kind, now_us(), std::move(body)});
  bool wake = queue_.size() == kWakeAt;
  if (awaited && options_.durability == Durability::fsync && awaited_queued_++ == 0) wake = true;
  if (wake) cv_.notify_one();
  return ticket;
}

void AuditLog::on_durable(std::uint64_t ticket, std::function<void(bool)> done) {
  std::unique_lock lk(mu_);
  if (durable_ >= ticket) {
    lk.unlock();
    done(true);
    return;
  }
  if (!failed_.is_ok() || stop_) {
    lk.unlock();
    done(false);
    return;
  }
  waiters_.push_back({ticket, std::move(done)});
}

bool AuditLog::wait_durable(std::uint64_t ticket, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  durable_cv_.wait_for(lk, timeout, [&] { return durable_ >= ticket || !failed_.is_ok(); });
  return durable_ >= ticket;
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

std::vector<AuditLog::Recent> AuditLog::recent(std::uint64_t after, std::string_view needle,
                                               std::size_t max) const {
  std::vector<Recent> out;
  std::lock_guard lk(recent_mu_);
  auto it = std::lower_bound(recent_.begin(), recent_.end(), after + 1,
                             [](const Recent& r, std::uint64_t s) { return r.seq < s; });
  for (; it != recent_.end() && out.size() < max; ++it)
    if (it->body.find(needle) != std::string::npos) out.push_back(*it);
  return out;
}

void AuditLog::add_record(Kind kind, std::int64_t time_us, std::string body, std::string& out) {
  Record r{kind, head_seq_ + 1, time_us, head_, std::move(body)};
  std::string bytes = encode_record(r);
  frames_.add(bytes, out);
  head_ = hash_bytes(bytes);
  head_seq_ = r.seq;
  ++since_checkpoint_;
  if (kind != Kind::checkpoint && kind != Kind::segment_start) {
    // For the live tail; the body moves here, it is not copied.
    constexpr std::size_t kRecentRecords = 20'000;
    if (r.body.size() > 256 * 1024) r.body.clear();
    std::lock_guard lk(recent_mu_);
    // After a failed write the chain resumes at an earlier seq: drop what was not kept.
    while (!recent_.empty() && recent_.back().seq >= r.seq) recent_.pop_back();
    recent_.push_back({r.seq, kind, time_us, std::move(r.body)});
    if (recent_.size() > kRecentRecords) recent_.pop_front();
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
      .field("sig", base64_encode(sig))
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
  apply_retention(buf);
  return Status::ok();
}

void AuditLog::complete_waiters(std::uint64_t durable, bool failed) {
  std::vector<Waiter> ready;
  {
    std::lock_guard lk(mu_);
    if (!failed) durable_ = std::max(durable_, durable);
    auto it = std::partition(waiters_.begin(), waiters_.end(),
                             [&](const Waiter& w) { return !(failed || w.ticket <= durable_); });
    std::move(it, waiters_.end(), std::back_inserter(ready));
    waiters_.erase(it, waiters_.end());
  }
  durable_cv_.notify_all();
  for (auto& w : ready) w.done(!failed && w.ticket <= durable_);
}

void AuditLog::fail(const Status& st) {
  log::error("audit", "cannot write the audit log: ", st.message(),
             "; statements are refused until it can be written");
  std::size_t dropped = 0;
  {
    std::lock_guard lk(mu_);
    failed_ = st;
    dropped = queue_.size();
    queue_.clear();
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
    std::deque<Pending> batch;
    bool stopping, flush;
    {
      std::unique_lock lk(mu_);
      // Records nobody waits for are written every batch_interval; checkpoints are due every
      // checkpoint_interval.
      auto wait = options_.durability == Durability::batch || !queue_.empty()
                      ? options_.batch_interval
                      : options_.checkpoint_interval;
      if (!failed_.is_ok()) wait = std::chrono::milliseconds(1000);
      cv_.wait_for(lk, wait, [&] {
        return stop_ || (awaited_queued_ > 0 && failed_.is_ok()) || queue_.size() >= 4096 ||
               flush_requested_ > durable_;
      });
      awaited_queued_ = 0;
      stopping = stop_;
      if (!failed_.is_ok()) {
        if (stopping) break;
        // Retry: a new segment that says where the chain resumes.
        lk.unlock();
        Status st = open_segment(segment_ + 1, retry_reason_);
        lk.lock();
        if (st.is_ok()) {
          failed_ = Status::ok();
          durable_ = next_ticket_ - 1;  // everything before was answered (refused)
          log::info("audit", "the audit log is writable again (", segment_name(segment_), ")");
        }
        continue;
      }
      flush = flush_requested_ > durable_;
      batch.swap(queue_);
    }
    std::uint64_t written = written_ticket_;  // the last ticket in `buf` or on disk
    Status st;
    for (auto& p : batch) {
      if (frames_.offset() >= options_.segment_bytes) {
        st = rotate(buf, written);
        if (!st.is_ok()) break;
      }
      add_record(p.kind, p.time_us, std::move(p.body), buf);
      written = written_ticket_ = p.ticket;
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
      if (queue_.empty()) break;
    }
  }
  if (file_) (void)file_->close();
  file_.reset();
  complete_waiters(0, true);
}

void AuditLog::apply_retention(std::string& out) {
  if (options_.retention_bytes == 0) return;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> segs;  // number, bytes
  auto names = fs_.list(options_.dir);
  if (!names) return;
  for (const auto& name : *names)
    if (auto n = parse_segment_name(name); n && n < segment_)
      if (auto size = fs_.size(options_.dir + "/" + name)) segs.emplace_back(n, *size);
  std::sort(segs.begin(), segs.end());
  std::uint64_t total = 0;
  for (const auto& s : segs) total += s.second;
  std::string removed;
  JsonWriter w(removed);
  w.begin_array();
  bool any = false;
  for (std::size_t i = 0; i < segs.size() && total > options_.retention_bytes; ++i) {
    // What verify needs to tell this removal from an attacker's: the hash the next segment's
    // first record chains to.
    auto next = fs_.read(options_.dir + "/" + segment_name(segs[i].first + 1));
    if (!next) break;
    FrameReader reader(*next);
    std::string rec, why;
    if (reader.next(rec, why) != FrameReader::Next::record) break;
    auto r = decode_record(rec);
    if (!r) break;
    if (!fs_.remove(options_.dir + "/" + segment_name(segs[i].first)).is_ok()) break;
    total -= segs[i].second;
    w.begin_object()
        .field("segment", segs[i].first)
        .field("next_first_seq", r->seq)
        .field("chain", hex(r->prev))
        .end_object();
    any = true;
  }
  w.end_array();
  if (!any) return;
  (void)fs_.sync_dir(options_.dir);
  add_record(Kind::retention, now_us(), "{\"removed\":" + removed + "}", out);
}

}  // namespace sluice::audit
