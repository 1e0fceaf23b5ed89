#include "audit/recorder.h"

#include <chrono>
#include <set>

#include "audit/event_body.h"
#include "audit/packed.h"
#include "audit/signer.h"
#include "core/json_writer.h"
#include "core/pointer_bucket.h"
#include "hook/result_observer.h"
#include "sql/facts.h"

namespace sluice::audit {
namespace {

std::string_view protocol_name(hook::Protocol p) {
  switch (p) {
    case hook::Protocol::postgres:
      return "postgres";
    case hook::Protocol::snowflake:
      return "snowflake";
    case hook::Protocol::mysql:
      return "mysql";
  }
  return "unknown";
}

// The buffer an event is built (or packed) in before AuditLog copies it: one per thread,
// reused, so that recording allocates nothing per statement once warm.
std::string& body_buffer() {
  thread_local std::string buf;
  if (buf.capacity() > (4u << 20)) std::string().swap(buf);  // after a huge result
  buf.clear();
  return buf;
}

const std::string kRefusedUnrecorded =
    "sluice: the audit log cannot record this statement, so it was not run";

// Records each result set of one statement as the client received it. A session reuses one
// for statement after statement (begin()), making another only while it is still in use (a
// pipeline).
class ResultRecorder final : public hook::ResultObserver {
 public:
  ResultRecorder(AuditLog& log, std::string session, RecorderOptions caps)
      : log_(log), session_(std::move(session)), caps_(caps) {}

  // Starts on statement `n`, whatever the last one left behind (a session that ended before
  // its result did).
  void begin(std::uint64_t n) {
    n_ = n;
    started_ = std::chrono::steady_clock::now();
    set_ = 0;
    columns_.clear();
    reset();
  }

  void on_columns(std::span<const hook::ResultColumn> columns) override {
    reset();
    columns_.clear();
    PackWriter p(columns_);
    p.u32(static_cast<std::uint32_t>(columns.size()));
    for (const auto& c : columns) p.str(c.name).u32(c.type_oid).u8(c.binary ? 1 : 0);
  }

  void on_row(hook::Row& row) override {
    ++rows_;
    std::size_t size = 0;
    for (const auto& c : row.cells) size += c ? c->size() : 0;
    bytes_ += size;
    if (truncated_ || kept_rows_ >= caps_.result_rows || kept_bytes_ + size > caps_.result_bytes) {
      truncated_ = true;
      return;
    }
    ++kept_rows_;
    kept_bytes_ += size;
    PackWriter p(kept_);
    p.u32(static_cast<std::uint32_t>(row.cells.size()));
    for (const auto& c : row.cells) p.opt(c);
  }

  void on_complete(std::string_view tag, std::uint64_t rows) override { write(tag, rows, {}, {}); }
  void on_error(std::string_view sqlstate, std::string_view message) override {
    write({}, rows_, sqlstate, message);
  }

 private:
  void reset() {
    rows_ = bytes_ = kept_rows_ = kept_bytes_ = 0;
    truncated_ = false;
    kept_.clear();
  }
  // Packs the result's body (event_body.h).
  void write(std::string_view tag, std::uint64_t rows, std::string_view sqlstate,
             std::string_view message) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    std::string& packed = body_buffer();
    PackWriter p(packed);
    p.u8(kPackedBody)
        .str(session_)
        .u64(n_)
        .u64(set_)
        .i64(static_cast<std::int64_t>(us))
        .u64(std::max(rows, rows_))
        .u64(bytes_)
        .u8(truncated_ ? 1 : 0)
        .str(tag);
    const bool error = !sqlstate.empty() || !message.empty();
    p.u8(error ? 1 : 0);
    if (error) p.str(sqlstate).str(message);
    p.u32(0);  // masked cells per column: none (there is no masking stage yet)
    p.u64(kept_rows_);
    if (columns_.empty()) p.u32(0);  // no columns were described
    // The columns and rows go into the log as they are, behind this head.
    log_.append_packed(Kind::result, {packed, columns_, kept_});
    ++set_;
    columns_.clear();
    reset();
  }

  AuditLog& log_;
  std::string session_;
  std::uint64_t n_ = 0;
  RecorderOptions caps_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t set_ = 0;
  std::string columns_;  // packed: their count, then each column
  std::string kept_;     // packed: each kept row's cell count, then its cells
  std::uint64_t rows_ = 0, bytes_ = 0, kept_rows_ = 0, kept_bytes_ = 0;
  bool truncated_ = false;
};

}  // namespace

struct AuditRecorder::SessionState {
  std::string id;
  std::uint64_t statements = 0;
  std::set<std::string> objects;
  std::shared_ptr<const sql::Analysis> last_indexed;
  std::string key;                        // scratch for "relation.column"
  std::shared_ptr<ResultRecorder> spare;  // the result recorder to reuse when it is free
};

AuditRecorder::AuditRecorder(AuditLog& log, RecorderOptions options, ObjectsSink on_objects)
    : log_(log), options_(options), on_objects_(std::move(on_objects)) {}

AuditRecorder::~AuditRecorder() = default;

AuditRecorder::Shard& AuditRecorder::shard(const hook::SessionInfo& s) {
  return shards_[pointer_bucket<kShardBits>(&s)];
}

AuditRecorder::SessionState& AuditRecorder::state(const hook::SessionInfo& s) {
  Shard& sh = shard(s);
  std::lock_guard lk(sh.mu);
  auto& slot = sh.sessions[&s];
  if (!slot || slot->id != s.session_id) {
    slot = std::make_unique<SessionState>();
    slot->id = s.session_id;
  }
  return *slot;
}

void AuditRecorder::on_session_start(const hook::SessionInfo& s) {
  SessionState& st = state(s);
  st = SessionState();  // a session that starts again at this address starts afresh
  st.id = s.session_id;
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("session", std::string_view(s.session_id))
      .field("protocol", protocol_name(s.protocol))
      .field("identity", std::string_view(s.identity))
      .field("grant", std::string_view(s.grant_id))
      .field("role", std::string_view(s.role))
      .field("connection", std::string_view(s.connection))
      .field("client", std::string_view(s.client_address))
      .field("tls", s.tls)
      .field("application", std::string_view(s.application))
      .field("access", std::string_view(
                           s.scope.access == hook::GrantScope::Access::write ? "write" : "read"));
  w.key("groups").begin_array();
  for (const auto& g : s.groups) w.string(g);
  w.end_array();
  w.field("grant_expires_at_ms", s.grant_expires_at_ms).end_object();
  log_.append(Kind::session_start, std::move(body));
}

void AuditRecorder::on_session_end(const hook::SessionInfo& s, std::string_view reason) {
  SessionState st;
  {
    Shard& sh = shard(s);
    std::lock_guard lk(sh.mu);
    auto it = sh.sessions.find(&s);
    if (it != sh.sessions.end()) {
      if (it->second->id == s.session_id) st = std::move(*it->second);
      sh.sessions.erase(it);
    }
  }
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .field("session", std::string_view(s.session_id))
      .field("reason", reason)
      .field("statements", st.statements)
      .end_object();
  log_.append(Kind::session_end, std::move(body));
  if (on_objects_ && !st.objects.empty())
    on_objects_(s.session_id, std::vector<std::string>(st.objects.begin(), st.objects.end()));
}

void AuditRecorder::on_decision(hook::StatementEvent& ev, hook::Decision& d) {
  SessionState& st = state(ev.session);
  const std::uint64_t n = ++st.statements;
  // A repeated statement shares its cached analysis: its objects are indexed already.
  if (ev.analysis && ev.analysis != st.last_indexed) {
    st.last_indexed = ev.analysis;
    // Lookups before inserts, through one reused buffer: sessions repeat the same objects.
    auto add = [&st](const std::string& name) {
      if (st.objects.find(name) == st.objects.end()) st.objects.insert(name);
    };
    std::string& key = st.key;
    for (const auto& f : ev.analysis->statements) {
      for (const auto& r : f.reads) add(r);
      for (const auto& r : f.writes) add(r);
      for (const auto& c : f.columns) {
        if (c.relation.empty()) continue;
        key.assign(c.relation).append(1, '.').append(c.column);
        add(key);
      }
    }
  }
  // The packed body (event_body.h); the writer appends the analysis.
  std::string& packed = body_buffer();
  PackWriter p(packed);
  p.u8(kPackedBody)
      .str(ev.session.session_id)
      .u64(n)
      .u8(origin_code(ev.origin))
      .str(ev.text)
      .str(ev.statement_name)
      .u32(static_cast<std::uint32_t>(ev.params.size()));
  for (std::size_t i = 0; i < ev.params.size(); ++i)
    p.u8(i < ev.param_binary.size() && ev.param_binary[i] ? 1 : 0).opt(ev.params[i]);
  const bool allowed = d.verdict != hook::Verdict::refuse;
  p.u8(static_cast<std::uint8_t>(!allowed                           ? VerdictCode::refuse
                                 : d.verdict == hook::Verdict::hold ? VerdictCode::hold
                                                                    : VerdictCode::allow))
      .str(d.rule);
  if (!allowed) p.str(d.refusal.sqlstate).str(d.refusal.message);
  p.u8(d.caps.any() ? 1 : 0);
  if (d.caps.any()) p.u64(d.caps.max_rows).u64(d.caps.max_bytes);
  std::uint64_t ticket = log_.append_packed(Kind::statement, {packed}, finish_statement,
                                            ev.analysis, allowed && log_.sessions_must_wait());
  if (!allowed) return;
  if (ticket == 0) {
    Status h = log_.health();
    hook::Refusal r;
    r.sqlstate = "58030";
    r.message = kRefusedUnrecorded + " (" + h.message() + ")";
    r.hint =
        "The gateway refuses statements until its audit log can be written; tell its "
        "operator (see /healthz).";
    r.rule = "audit";
    d = hook::Decision::refuse(std::move(r));
    return;
  }
  if (log_.sessions_must_wait()) d.durable_after = ticket;
  // The spare is free when nothing else holds it: its last statement's response is done.
  if (!st.spare || st.spare.use_count() > 1)
    st.spare = std::make_shared<ResultRecorder>(log_, ev.session.session_id, options_);
  st.spare->begin(n);
  d.observers.push_back(st.spare);
}

}  // namespace sluice::audit
