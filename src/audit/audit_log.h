// AuditLog: the append-only, hash-chained, signed record of every session
// (docs/design/audit_log_format.md).
//
// Sessions append events from any thread; one writer thread frames them into the current
// segment file, chains them, and makes them durable according to `durability`:
//   fsync  every batch is fdatasync'ed before its records count as durable; appends that
//          arrive while a sync runs form the next batch (group commit). Sessions wait for
//          their statement's record before forwarding the statement.
//   batch  synced every `batch_interval`; a crash loses at most that window.
//   none   synced only when a segment is sealed.
// Every `checkpoint_interval` (and when a segment is sealed) the writer appends a checkpoint
// signed with Ed25519 over the chain's head. When a write fails the log reports it through
// health(), appends are refused (the caller refuses the statement: nothing runs unrecorded),
// and the writer retries with a new segment every second.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/file.h"
#include "audit/format.h"
#include "audit/signer.h"
#include "core/status.h"

namespace sluice::audit {

enum class Durability : std::uint8_t { fsync, batch, none };

struct AuditOptions {
  std::string dir;
  Durability durability = Durability::fsync;
  std::chrono::milliseconds batch_interval{10};
  std::uint64_t segment_bytes = 64ull << 20;
  std::chrono::milliseconds checkpoint_interval{1000};
  std::uint64_t retention_bytes = 0;  // total size of sealed segments kept; 0: keep all
  std::string node;
};

std::string segment_name(std::uint64_t n);
// The segment number of a file name, or 0.
std::uint64_t parse_segment_name(std::string_view name);

class AuditLog {
 public:
  // Called after each checkpoint is durable (the gateway records it in the state store, as a
  // witness against truncation).
  using CheckpointSink =
      std::function<void(std::uint64_t seq, const Hash& hash, std::uint64_t segment)>;

  AuditLog(AuditOptions options, SigningKey key, FileSystem& fs = posix_fs(),
           CheckpointSink sink = {});
  ~AuditLog();

  // Recovers from the previous run (a torn tail, an unsealed segment) and opens a new segment.
  // On error the log is unhealthy but keeps retrying; the error says why.
  // `witness`: the last checkpoint (seq, hash) the state store recorded; the log must still
  // hold it, or the gateway refuses to continue (and so to sign) a log cut while it was down.
  Status start(std::optional<std::pair<std::uint64_t, Hash>> witness = std::nullopt);

  // Appends an event; returns a ticket (increasing with each append) to wait on, or 0 when
  // the log is failing (the caller refuses the statement). Record sequence numbers are
  // assigned by the writer, which also interleaves checkpoints and segment starts.
  // `awaited`: someone will wait for this record (an allowed statement under fsync). Only
  // those wake the writer at once; the rest are written on its next pass (within
  // batch_interval), so that a result record does not start a sync that the next
  // statement's record must then wait behind.
  // The body is copied into the calling thread's staging block: no allocation per event once
  // warm, no lock shared with sessions on other threads (under fsync, an awaited record
  // also takes the writer's lock to wake it), and the writer takes every thread's events
  // since its last pass in one cut.
  std::uint64_t append(Kind kind, std::string_view body, bool awaited = false);

  // The same as append(), for a body the caller hands over in parts (a result's rows are
  // packed apart from its head, and are copied into the log once, not joined first). With
  // `finish`, the writer thread makes the record's body from those bytes (a statement's
  // packed event, to which it appends the analysis `held`, kept alive until then): work that
  // is the same for many events is done once there, and off the session's thread.
  using Finish = void (*)(std::string_view packed, const std::shared_ptr<const void>& held,
                          std::string& body);
  std::uint64_t append_packed(Kind kind, std::initializer_list<std::string_view> packed,
                              Finish finish = nullptr, std::shared_ptr<const void> held = {},
                              bool awaited = false);

  // Calls `done(true)` once the event of `ticket` is durable, or `done(false)` if it never
  // will be (a write failed). Called on the writer thread, or at once.
  void on_durable(std::uint64_t ticket, std::function<void(bool)> done) {
    on_durable(ticket, ticket, std::move(done));
  }
  // The same for every ticket in [first, last]: false if any of them was lost to a failure
  // (one step of a session can carry several statements).
  void on_durable(std::uint64_t first, std::uint64_t last, std::function<void(bool)> done);
  bool wait_durable(std::uint64_t ticket, std::chrono::milliseconds timeout);

  bool sessions_must_wait() const { return options_.durability == Durability::fsync; }
  Status health() const;
  std::uint64_t durable_ticket() const;

  // Writes and syncs everything appended so far, with a checkpoint.
  void flush();
  // Seals the current segment (a final checkpoint) and stops the writer.
  void close();

  // Live tail: the recently written records (newest ~20,000) with seq > `after` of session
  // `session` (all records when it is empty), oldest first, at most `max`; bodies as JSON
  // (event_body.h).
  struct Recent {
    std::uint64_t seq;
    Kind kind;
    std::int64_t time_us;
    std::string body;
  };
  std::vector<Recent> recent(std::uint64_t after, std::string_view session, std::size_t max) const;

  const SigningKey& key() const { return key_; }
  const AuditOptions& options() const { return options_; }

 private:
  // Events one stage took since the writer's last pass, their bodies packed into one buffer.
  // The writer takes the whole block.
  struct Block {
    struct Entry {
      std::uint64_t ticket;
      Kind kind;
      std::int64_t time_us;
      std::size_t offset, size;  // in `bytes`, or in `finished` once finished
      Finish finish = nullptr;   // until the writer has made the body
      std::shared_ptr<const void> held;
      bool finished = false;
    };
    std::string bytes;     // bodies and packed events, as appended
    std::string finished;  // the bodies the writer made (Finish)
    std::vector<Entry> entries;
    std::string_view body(const Entry& e) const {
      return std::string_view(e.finished ? finished : bytes).substr(e.offset, e.size);
    }
    std::size_t footprint() const { return bytes.size() + finished.size(); }
    std::size_t capacity() const {
      return bytes.capacity() + finished.capacity() + entries.capacity() * sizeof(Entry);
    }
    void clear() {
      bytes.clear();
      finished.clear();
      entries.clear();
    }
  };
  // The blocks one writer pass took, one from each stage that had events. The live tail
  // keeps it while it holds any of its records.
  struct Pass {
    std::vector<std::shared_ptr<Block>> blocks;
    std::size_t footprint() const {
      std::size_t n = 0;
      for (const auto& b : blocks) n += b->footprint();
      return n;
    }
  };
  // A record in the live tail: its body stays in the block it was appended in.
  struct RecentRef {
    std::uint64_t seq;
    Kind kind;
    std::int64_t time_us;
    std::shared_ptr<const Pass> pass;
    std::string_view body;  // in one of `pass`'s blocks
  };
  // Where events wait for the writer: one stage per appending thread (threads beyond kStages
  // share), so that sessions on different workers do not contend for one lock and one
  // buffer. A ticket is taken under its stage's lock and the writer's cut holds every
  // stage's lock at once, so a cut has every event whose ticket was issued before it.
  static constexpr std::size_t kStages = 8;
  struct alignas(64) Stage {
    std::mutex mu;
    std::shared_ptr<Block> block = std::make_shared<Block>();
  };
  // Which writer pass wrote a record: its seq, and its entry (block, then index in it).
  struct Added {
    std::uint64_t seq;
    std::uint32_t block;
    std::uint32_t index;
  };
  Stage& my_stage();
  std::uint64_t append_entry(Kind kind, std::initializer_list<std::string_view> parts,
                             Finish finish, std::shared_ptr<const void> held, bool awaited);
  // Makes the bodies of a block the writer took that need it (before any of it is in the
  // tail).
  static void finish(Block& block);
  bool lost_locked(std::uint64_t first, std::uint64_t last) const;
  struct Waiter {
    std::uint64_t first;
    std::uint64_t ticket;
    std::function<void(bool)> done;
  };
  void run();
  Status recover_and_open();
  Status open_segment(std::uint64_t number, const std::string& recovered);
  // Frames and chains a record into `out`; returns the time it was written with.
  std::int64_t add_record(Kind kind, std::int64_t time_us, std::string_view body, std::string& out);
  // Under mu_: takes every stage's block that has events, replacing it from `spares`.
  std::shared_ptr<Pass> cut(std::vector<std::shared_ptr<Block>>& spares);
  // Under mu_: empties every stage; returns how many events were dropped.
  std::size_t clear_stages();
  bool stages_empty();
  void remember(const std::shared_ptr<const Pass>& pass, const std::vector<Added>& added);
  // Under recent_mu_: a pass leaves the tail (once `neighbour`, the next record, is not in it).
  void release_locked(std::shared_ptr<const Pass> gone, const RecentRef* neighbour);
  // Under recent_mu_: drops the records after `seq` (fail(): the chain resumes after it).
  void forget_after_locked(std::uint64_t seq);
  // The time a record is written with (last_time_us_).
  std::int64_t record_time(std::int64_t t);
  void add_checkpoint(bool final, std::string& out);
  // Seals the segment (written and synced with `buf`) and opens the next one.
  Status rotate(std::string& buf, std::uint64_t written_ticket);
  Status write_out(std::string& buf, bool sync, std::uint64_t written_ticket);
  void fail(const Status& st);
  void complete_waiters(std::uint64_t durable, bool failed);
  Status apply_retention(std::string& out, std::uint64_t written_ticket);

  AuditOptions options_;
  SigningKey key_;
  FileSystem& fs_;
  CheckpointSink sink_;

  std::array<Stage, kStages> stages_;
  // Every append takes a ticket here: on a cache line of its own, so that reading
  // accepting_ does not miss each time another thread took one.
  alignas(64) std::atomic<std::uint64_t> next_ticket_{1};
  // Appends are taken: started, not stopping, healthy. Changed under mu_ (and, to refuse,
  // before every stage is emptied), read under a stage's lock.
  alignas(64) std::atomic<bool> accepting_{false};
  // An append asked the writer to run now: a record someone waits for (fsync), or a full
  // stage. Set before taking mu_ to notify, so the writer cannot miss it.
  std::atomic<bool> wake_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable durable_cv_;
  std::vector<Waiter> waiters_;
  std::uint64_t durable_ = 0;  // every ticket up to this one is durable or lost
  // Tickets dropped by a failed write: never durable, whatever durable_ says later.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> lost_;
  std::uint64_t flush_requested_ = 0;

  Status failed_;  // ok while healthy
  bool stop_ = false;
  bool started_ = false;
  std::thread writer_;

  mutable std::mutex recent_mu_;
  std::deque<RecentRef> recent_;
  std::size_t recent_bytes_ = 0;

  // Writer-thread state.
  std::optional<std::pair<std::uint64_t, Hash>> witness_;
  bool recovered_ = false;  // recover_and_open() succeeded once
  std::unique_ptr<WritableFile> file_;
  std::uint64_t segment_ = 0;
  FrameWriter frames_{0};
  Hash head_{};                 // hash of the last record written
  std::uint64_t head_seq_ = 0;  // its seq
  Hash synced_head_{};          // ... and of the last one known to be on disk
  std::uint64_t synced_seq_ = 0;
  std::uint64_t since_checkpoint_ = 0;
  std::uint64_t written_ticket_ = 0;  // the last event handed to the file
  // The last record's time. Events' times are read on their threads (in their stages), the
  // writer's records' when it writes them; a record read less than a second before the one
  // written before it takes that one's time (record_time), a larger step back is the wall
  // clock's and is kept.
  std::int64_t last_time_us_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::chrono::steady_clock::time_point last_sync_{};
  std::string retry_reason_;
  std::string record_;        // scratch: the record being framed
  std::vector<Added> added_;  // scratch: a pass's records
  // Under recent_mu_: blocks the tail let go of, for the writer to reuse.
  std::vector<std::shared_ptr<Block>> free_blocks_;
};

}  // namespace sluice::audit
