#include "audit/recorder.h"

#include <chrono>

#include "audit/signer.h"
#include "core/json_writer.h"
#include "crypto/primitives.h"
#include "hook/result_observer.h"
#include "sql/facts.h"

namespace sluice::audit {
namespace {

std::string_view origin_name(hook::Origin o) {
  switch (o) {
    case hook::Origin::simple_query:
      return "simple_query";
    case hook::Origin::prepare:
      return "prepare";
    case hook::Origin::execute:
      return "execute";
    case hook::Origin::function_call:
      return "function_call";
    case hook::Origin::request:
      return "request";
  }
  return "unknown";
}

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

// The buffer a record's body is built in before AuditLog::append copies it: one per thread,
// reused, so that recording allocates nothing per statement once warm.
std::string& body_buffer() {
  thread_local std::string buf;
  if (buf.capacity() > (4u << 20)) std::string().swap(buf);  // after a huge result
  buf.clear();
  return buf;
}

// The analysis part of a statement record. Statements repeat (prepared statements, and
// literal shapes share one analysis), so each thread keeps the last one it wrote.
std::string_view analysis_json(const std::shared_ptr<const sql::Analysis>& a) {
  thread_local std::shared_ptr<const sql::Analysis> last;  // held: its address stays unique
  thread_local std::string json;
  if (a == last) return json;
  last = a;
  json.clear();
  JsonWriter w(json);
  w.begin_array();
  for (const auto& f : a->statements) {
    w.begin_object().field("kind", sql::to_string(f.kind));
    w.key("reads").begin_array();
    for (const auto& r : f.reads) w.string(r);
    w.end_array().key("writes").begin_array();
    for (const auto& r : f.writes) w.string(r);
    w.end_array().key("columns").begin_array();
    for (const auto& c : f.columns)
      w.begin_object()
          .field("relation", std::string_view(c.relation))
          .field("column", std::string_view(c.column))
          .field("clause", sql::to_string(c.clause))
          .end_object();
    w.end_array().end_object();
  }
  w.end_array();
  return json;
}

const std::string kRefusedUnrecorded =
    "sluice: the audit log cannot record this statement, so it was not run";

// Records each result set of one statement as the client received it.
class ResultRecorder final : public hook::ResultObserver {
 public:
  ResultRecorder(AuditLog& log, std::string session, std::uint64_t n, RecorderOptions caps)
      : log_(log),
        session_(std::move(session)),
        n_(n),
        caps_(caps),
        started_(std::chrono::steady_clock::now()) {}

  void on_columns(std::span<const hook::ResultColumn> columns) override {
    reset();
    columns_.clear();
    JsonWriter w(columns_);
    w.begin_array();
    for (const auto& c : columns)
      w.begin_object()
          .field("name", std::string_view(c.name))
          .field("type", static_cast<std::uint64_t>(c.type_oid))
          .field("binary", c.binary)
          .end_object();
    w.end_array();
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
    JsonWriter w(rows_json_);
    w.begin_array();
    for (const auto& c : row.cells) {
      if (c)
        w.text(*c);
      else
        w.null();
    }
    w.end_array();
    rows_json_.push_back(',');
  }

  void on_complete(std::string_view tag, std::uint64_t rows) override { write(tag, rows, {}, {}); }
  void on_error(std::string_view sqlstate, std::string_view message) override {
    write({}, rows_, sqlstate, message);
  }

 private:
  void reset() {
    rows_ = bytes_ = kept_rows_ = kept_bytes_ = 0;
    truncated_ = false;
    rows_json_.clear();
  }
  void write(std::string_view tag, std::uint64_t rows, std::string_view sqlstate,
             std::string_view message) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    std::string& body = body_buffer();
    JsonWriter w(body);
    w.begin_object()
        .field("session", std::string_view(session_))
        .field("n", n_)
        .field("set", set_)
        .field("duration_us", static_cast<std::int64_t>(us))
        .field("rows", std::max(rows, rows_))
        .field("bytes", bytes_)
        .field("truncated", truncated_);
    if (!tag.empty()) w.field("tag", tag);
    if (!sqlstate.empty() || !message.empty()) {
      w.key("error").begin_object().field("sqlstate", sqlstate).field("message", message);
      w.end_object();
    }
    w.key("masked").begin_object().end_object();  // filled in by the masking stage
    body += ",\"columns\":";
    body += columns_.empty() ? "[]" : columns_;
    body += ",\"data\":[";
    if (!rows_json_.empty()) body.append(rows_json_, 0, rows_json_.size() - 1);
    body += "]}";
    log_.append(Kind::result, body);
    ++set_;
    columns_.clear();
    reset();
  }

  AuditLog& log_;
  std::string session_;
  std::uint64_t n_;
  RecorderOptions caps_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t set_ = 0;
  std::string columns_;
  std::string rows_json_;
  std::uint64_t rows_ = 0, bytes_ = 0, kept_rows_ = 0, kept_bytes_ = 0;
  bool truncated_ = false;
};

}  // namespace

AuditRecorder::AuditRecorder(AuditLog& log, RecorderOptions options, ObjectsSink on_objects)
    : log_(log), options_(options), on_objects_(std::move(on_objects)) {}

void AuditRecorder::on_session_start(const hook::SessionInfo& s) {
  {
    std::lock_guard lk(mu_);
    sessions_[s.session_id];
  }
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
    std::lock_guard lk(mu_);
    auto it = sessions_.find(s.session_id);
    if (it != sessions_.end()) {
      st = std::move(it->second);
      sessions_.erase(it);
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
  std::uint64_t n = 0;
  {
    std::lock_guard lk(mu_);
    auto& st = sessions_[ev.session.session_id];
    n = ++st.statements;
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
  }
  std::string& body = body_buffer();
  JsonWriter w(body);
  w.begin_object()
      .field("session", std::string_view(ev.session.session_id))
      .field("n", n)
      .field("origin", origin_name(ev.origin))
      .field("text", ev.text);
  if (!ev.statement_name.empty()) w.field("name", ev.statement_name);
  if (!ev.params.empty()) {
    w.key("params").begin_array();
    for (std::size_t i = 0; i < ev.params.size(); ++i) {
      const auto& p = ev.params[i];
      bool binary = i < ev.param_binary.size() && ev.param_binary[i];
      if (!p) {
        w.null();
      } else if (binary) {
        // Binary-format values are bytes, whatever they look like.
        w.begin_object().key("base64").string(crypto::base64_encode(*p)).end_object();
      } else {
        w.text(*p);
      }
    }
    w.end_array();
  }
  bool allowed = d.verdict != hook::Verdict::refuse;
  w.field("decision", std::string_view(d.verdict == hook::Verdict::refuse ? "refuse"
                                       : d.verdict == hook::Verdict::hold ? "hold"
                                                                          : "allow"));
  if (!d.rule.empty()) w.field("rule", std::string_view(d.rule));
  if (!allowed)
    w.field("sqlstate", std::string_view(d.refusal.sqlstate))
        .field("message", std::string_view(d.refusal.message));
  if (d.caps.any()) w.field("max_rows", d.caps.max_rows).field("max_bytes", d.caps.max_bytes);
  if (ev.analysis) {
    w.key("analysis").raw(analysis_json(ev.analysis));
    if (!ev.analysis->ok()) w.field("analysis_error", std::string_view(ev.analysis->error));
  }
  w.end_object();
  std::uint64_t ticket = log_.append(Kind::statement, body, allowed && log_.sessions_must_wait());
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
  d.observers.push_back(std::make_shared<ResultRecorder>(log_, ev.session.session_id, n, options_));
}

}  // namespace sluice::audit
