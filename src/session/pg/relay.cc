#include "session/pg/relay.h"

#include <algorithm>
#include <cstdio>

#include "core/metrics.h"
#include "proto/pg/frontend.h"
#include "proto/pg/message.h"

namespace sluice::session::pg {

using sluice::pg::DecodeStatus;
using sluice::pg::Frame;
namespace fe = sluice::pg::fe;
namespace be = sluice::pg::be;

namespace {

std::string type_label(char t) {
  char buf[8];
  if (t >= 0x20 && t < 0x7F) {
    std::snprintf(buf, sizeof buf, "'%c'", t);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(t));
  }
  return buf;
}

bool is_fatal_error(Bytes body) {
  auto f = sluice::pg::parse_error_fields(body);
  return f && (f->severity == "FATAL" || f->severity == "PANIC");
}

void write_refusal(OutputBuffer& out, const hook::Refusal& r) {
  sluice::pg::ErrorReport e;
  e.sqlstate = r.sqlstate;
  e.message = r.message;
  e.detail = r.detail;
  e.hint = r.hint;
  out.own([&](std::string& s) { sluice::pg::append_error(s, e); });
}

// The columns of a RowDescription, as result observers see them; false if it is malformed.
bool result_columns(Bytes body, std::vector<hook::ResultColumn>& out) {
  auto cols = sluice::pg::parse_row_description(body);
  if (!cols) return false;
  out.clear();
  for (const auto& c : *cols)
    out.push_back({std::string(c.name), static_cast<std::uint32_t>(c.type_oid), c.format == 1});
  return true;
}

}  // namespace

PgRelay::PgRelay(const hook::SessionInfo& session, const hook::StatementPipeline& pipeline,
                 RelayLimits limits)
    : session_(session), pipeline_(pipeline), limits_(limits) {}

PgRelay::~PgRelay() = default;

// ---- client to server ----------------------------------------------------------------------

PgRelay::ClientStep PgRelay::on_client_bytes(Bytes in) {
  ClientStep step;
  std::size_t pos = 0;
  for (;;) {
    if (barrier_seq_ != 0) {
      step.next = ClientNext::barrier;
      break;
    }
    if (abort_before_next_ != Abort::none) inject_silent_abort();
    if (pos == in.size()) break;
    auto d = sluice::pg::decode_frontend(in.subspan(pos), limits_.frames);
    if (d.status == DecodeStatus::need_more) {
      step.need = d.header_known ? d.frame.wire_size() : 5;
      break;
    }
    if (d.status == DecodeStatus::invalid) {
      client_fatal(std::string("invalid message from the client (type ") +
                   type_label(static_cast<char>(in[pos])) + "): " + d.error);
      step.next = ClientNext::fatal;
      break;
    }
    Handled h = handle_client(d.frame, in.data() + pos);
    if (h == Handled::hold) {
      step.next = ClientNext::hold;
      step.hold = resolved_ ? nullptr : held_hold_;
      break;
    }
    if (h == Handled::fatal) {
      step.next = ClientNext::fatal;
      break;
    }
    pos += d.frame.wire_size();
    if (h == Handled::terminate) {
      step.next = ClientNext::terminate;
      break;
    }
  }
  step.consumed = pos;
  return step;
}

void PgRelay::resolve_hold(hook::Decision final_decision) {
  if (final_decision.verdict == hook::Verdict::allow) {
    held_decision_.verdict = hook::Verdict::allow;
    resolved_ = std::move(held_decision_);
  } else {
    resolved_ = std::move(final_decision);
    held_decision_ = hook::Decision();  // lets go of its observers (a recorder to reuse)
  }
  held_hold_.reset();
}

hook::Decision PgRelay::decide(hook::StatementEvent& ev) {
  if (resolved_) {
    hook::Decision d = std::move(*resolved_);
    resolved_.reset();
    held_ = false;
    return d;
  }
  if (pipeline_.empty()) return {};
  hook::Decision d = pipeline_.decide(ev);
  if (d.durable_after) {
    if (!audit_barrier_.first) audit_barrier_.first = d.durable_after;
    audit_barrier_.last = std::max(audit_barrier_.last, d.durable_after);
  }
  auto& m = metrics::counters();
  (d.verdict == hook::Verdict::refuse ? m.statements_refused : m.statements_allowed).add();
  if (d.verdict == hook::Verdict::hold) {
    held_ = true;
    held_hold_ = d.hold;
    held_decision_ = d;
  }
  return d;
}

PgRelay::Handled PgRelay::handle_client(const Frame& f, const std::uint8_t* raw) {
  if (skip_until_sync_) {
    // The server is skipping to Sync after an error the gateway caused; it would ignore these
    // messages, so they are not sent at all.
    if (f.type != fe::kSync && f.type != fe::kTerminate) return Handled::ok;
    if (f.type == fe::kSync) skip_until_sync_ = false;
  }
  const std::size_t size = f.wire_size();
  switch (f.type) {
    case fe::kQuery:
      return on_query(f, raw);
    case fe::kParse:
      return on_parse(f, raw);
    case fe::kBind:
      return on_bind(f, raw);
    case fe::kExecute:
      return on_execute(f, raw);
    case fe::kDescribe:
    case fe::kClose: {
      auto m = sluice::pg::parse_describe(f.body);
      if (!m)
        return client_fatal(std::string("malformed ") +
                            (f.type == fe::kClose ? "Close" : "Describe") + " message");
      to_server_.pass(raw, size);
      Pending e;
      e.kind = f.type == fe::kClose ? Kind::close : Kind::describe;
      e.seq = next_seq_++;
      e.target = m->kind;
      e.name = std::string(m->name);
      // Remember which statement or portal the answer describes: result observers of its
      // executions need the column names (Execute results carry no RowDescription).
      if (f.type == fe::kDescribe && !pipeline_.empty()) {
        if (m->kind == 'S')
          e.stmt = lookup_statement(m->name);
        else
          e.portal = lookup_portal(m->name);
      }
      pending_.push_back(std::move(e));
      return Handled::ok;
    }
    case fe::kSync: {
      to_server_.pass(raw, size);
      Pending e;
      e.kind = Kind::sync;
      e.seq = next_seq_++;
      pending_.push_back(std::move(e));
      return Handled::ok;
    }
    case fe::kFlush:
    case fe::kCopyData:
    case fe::kCopyDone:
    case fe::kCopyFail:
      to_server_.pass(raw, size);
      return Handled::ok;
    case fe::kTerminate:
      to_server_.pass(raw, size);
      return Handled::terminate;
    case fe::kFunctionCall: {
      hook::Refusal r;
      r.rule = "protocol";
      r.message =
          "sluice: the FunctionCall protocol message is refused: it runs a function with no SQL "
          "the gateway can check";
      r.hint = "Call the function from a SQL statement instead.";
      refuse_simple(r);
      return Handled::ok;
    }
    default:
      return client_fatal(std::string("unexpected ") +
                          std::string(sluice::pg::frontend_rule(f.type)->name) +
                          " message after authentication");
  }
}

PgRelay::Handled PgRelay::on_query(const Frame& f, const std::uint8_t* raw) {
  auto q = sluice::pg::parse_query(f.body);
  if (!q) return client_fatal("malformed Query message");
  hook::StatementEvent ev{session_, hook::Origin::simple_query, q->sql, {}, {}, nullptr, &scratch_,
                          {}};
  hook::Decision d = decide(ev);
  if (d.verdict == hook::Verdict::hold) return Handled::hold;
  if (d.verdict == hook::Verdict::refuse) {
    refuse_simple(d.refusal);
    return Handled::ok;
  }
  to_server_.pass(raw, f.wire_size());
  Pending e;
  e.kind = Kind::query;
  e.seq = next_seq_++;
  e.observers = std::move(d.observers);
  e.caps = std::move(d.caps);
  if (e.caps.any()) {
    e.counters = std::make_shared<ResultCounters>();
    barrier_seq_ = e.seq;
  }
  pending_.push_back(std::move(e));
  return Handled::ok;
}

PgRelay::Handled PgRelay::on_parse(const Frame& f, const std::uint8_t* raw) {
  auto m = sluice::pg::parse_parse(f.body);
  if (!m) return client_fatal("malformed Parse message");
  hook::StatementEvent ev{session_, hook::Origin::prepare, m->sql, m->name, {}, nullptr, &scratch_,
                          {}};
  hook::Decision d = decide(ev);
  if (d.verdict == hook::Verdict::hold) return Handled::hold;
  if (d.verdict == hook::Verdict::refuse) {
    refuse_extended(d.refusal);
    return Handled::ok;
  }
  to_server_.pass(raw, f.wire_size());
  Pending e;
  e.kind = Kind::parse;
  e.seq = next_seq_++;
  e.name = std::string(m->name);
  e.stmt = std::make_shared<PreparedStatement>(
      PreparedStatement{e.name, std::string(m->sql), std::move(ev.analysis), nullptr});
  pending_.push_back(std::move(e));
  return Handled::ok;
}

PgRelay::Handled PgRelay::on_bind(const Frame& f, const std::uint8_t* raw) {
  auto m = sluice::pg::parse_bind(f.body);
  if (!m) return client_fatal("malformed Bind message");
  auto stmt = lookup_statement(m->statement);
  if (!stmt) {
    // A statement the gateway did not see parsed (SQL PREPARE, or never prepared): it cannot
    // know what would run, so it does not let it run.
    hook::Refusal r;
    r.sqlstate = "26000";
    r.rule = "protocol";
    r.message = "sluice: prepared statement \"" + std::string(m->statement) +
                "\" was not prepared with a Parse message on this session";
    r.hint =
        "Prepare statements with the extended protocol (your driver's prepare call), not "
        "with SQL PREPARE.";
    refuse_extended(r);
    return Handled::ok;
  }
  auto portal = std::make_shared<Portal>();
  portal->stmt = stmt;
  if (!pipeline_.empty()) {
    if (m->result_format_count == 1) {
      portal->all_results_binary = m->result_format(0) == 1;
    } else {
      for (std::int16_t i = 0; i < m->result_format_count; ++i)
        portal->result_binary.push_back(m->result_format(static_cast<std::size_t>(i)) == 1);
    }
  }
  if (!pipeline_.empty() && m->param_count > 0) {
    std::vector<std::optional<std::string_view>> views;
    m->decode_params(views);
    portal->params.reserve(views.size());
    for (const auto& p : views)
      portal->params.emplace_back(p ? std::optional<std::string>(std::string(*p)) : std::nullopt);
    if (m->param_format_count > 0) {
      portal->param_binary.resize(views.size());
      for (std::size_t i = 0; i < views.size(); ++i)
        portal->param_binary[i] = m->param_format(i) == 1;
    }
  }
  to_server_.pass(raw, f.wire_size());
  Pending e;
  e.kind = Kind::bind;
  e.seq = next_seq_++;
  e.name = std::string(m->portal);
  e.stmt = std::move(stmt);
  e.portal = std::move(portal);
  pending_.push_back(std::move(e));
  return Handled::ok;
}

PgRelay::Handled PgRelay::on_execute(const Frame& f, const std::uint8_t* raw) {
  auto m = sluice::pg::parse_execute(f.body);
  if (!m) return client_fatal("malformed Execute message");
  auto portal = lookup_portal(m->portal);
  if (!portal) {
    hook::Refusal r;
    r.sqlstate = "34000";
    r.rule = "protocol";
    r.message = "sluice: portal \"" + std::string(m->portal) +
                "\" was not created with a Bind message on this session";
    r.hint = "Use FETCH to read from cursors declared in SQL.";
    refuse_extended(r);
    return Handled::ok;
  }
  std::vector<std::optional<std::string_view>>& params = execute_params_;
  params.clear();
  if (!pipeline_.empty()) {
    for (const auto& p : portal->params)
      params.emplace_back(p ? std::optional<std::string_view>(*p) : std::nullopt);
  }
  hook::StatementEvent ev{
      session_, hook::Origin::execute,  portal->stmt->sql, portal->stmt->name,
      params,   portal->stmt->analysis, &scratch_,         portal->param_binary};
  hook::Decision d = decide(ev);
  if (d.verdict == hook::Verdict::hold) return Handled::hold;
  if (d.verdict == hook::Verdict::refuse) {
    refuse_extended(d.refusal);
    return Handled::ok;
  }
  to_server_.pass(raw, f.wire_size());
  Pending e;
  e.kind = Kind::execute;
  e.seq = next_seq_++;
  e.name = std::string(m->portal);
  e.portal = portal;
  e.observers = std::move(d.observers);
  e.caps = std::move(d.caps);
  if (e.caps.any()) {
    if (!portal->counters) portal->counters = std::make_shared<ResultCounters>();
    e.counters = portal->counters;
    barrier_seq_ = e.seq;
  }
  pending_.push_back(std::move(e));
  return Handled::ok;
}

// Execute results carry no RowDescription: observers get the columns of the Describe that
// came before (of the portal, or of its statement with Bind's formats), once, when the first
// result message arrives (a Describe pipelined after the Bind is answered by then).
void PgRelay::describe_execute_columns(Pending& e) {
  if (e.columns_told || e.observers.empty() || !e.portal) return;
  e.columns_told = true;
  const Portal& portal = *e.portal;
  const Columns* cols = portal.columns.get();
  Columns with_formats;
  if (!cols && portal.stmt && portal.stmt->columns) {
    // A statement's description says text for every column; Bind chose the formats.
    cols = portal.stmt->columns.get();
    if (portal.all_results_binary || !portal.result_binary.empty()) {
      with_formats = *cols;
      for (std::size_t i = 0; i < with_formats.size(); ++i)
        with_formats[i].binary = portal.all_results_binary ||
                                 (i < portal.result_binary.size() && portal.result_binary[i]);
      cols = &with_formats;
    }
  }
  for (auto& o : e.observers) o->on_columns(cols ? *cols : Columns{});
}

void PgRelay::refuse_extended(const hook::Refusal& r) {
  to_server_.own([](std::string& s) {
    sluice::pg::append_parse(s, kRefusedStatementName, kRefusedStatementText);
  });
  Pending e;
  e.kind = Kind::refused_parse;
  e.seq = next_seq_++;
  e.refusal = std::make_unique<hook::Refusal>(r);
  pending_.push_back(std::move(e));
  skip_until_sync_ = true;
}

void PgRelay::refuse_simple(const hook::Refusal& r) {
  to_server_.own([](std::string& s) { sluice::pg::append_query(s, kRefusedStatementText); });
  Pending e;
  e.kind = Kind::refused_query;
  e.seq = next_seq_++;
  e.refusal = std::make_unique<hook::Refusal>(r);
  pending_.push_back(std::move(e));
}

void PgRelay::inject_silent_abort() {
  Pending e;
  e.seq = next_seq_++;
  if (abort_before_next_ == Abort::extended) {
    to_server_.own([](std::string& s) {
      sluice::pg::append_parse(s, kRefusedStatementName, kRefusedStatementText);
    });
    e.kind = Kind::silent_abort_parse;
    skip_until_sync_ = true;
  } else {
    to_server_.own([](std::string& s) { sluice::pg::append_query(s, kRefusedStatementText); });
    e.kind = Kind::silent_abort_query;
  }
  pending_.push_back(std::move(e));
  abort_before_next_ = Abort::none;
}

PgRelay::Handled PgRelay::client_fatal(std::string message) {
  fatal_ = {};
  fatal_.severity = "FATAL";
  fatal_.sqlstate = "08P01";
  fatal_.message = "sluice: " + message;
  fatal_.hint = "The session was closed; the gateway keeps serving other sessions.";
  return Handled::fatal;
}

std::shared_ptr<const PgRelay::PreparedStatement> PgRelay::lookup_statement(
    std::string_view name) const {
  for (std::size_t i = pending_.size(); i-- > 0;) {
    const Pending& e = pending_[i];
    if (e.kind == Kind::parse && e.name == name) return e.stmt;
    if (e.kind == Kind::close && e.target == 'S' && e.name == name) return nullptr;
  }
  return statements_.find(name);
}

std::shared_ptr<const PgRelay::Portal> PgRelay::lookup_portal(std::string_view name) const {
  for (std::size_t i = pending_.size(); i-- > 0;) {
    const Pending& e = pending_[i];
    if (e.kind == Kind::bind && e.name == name) return e.portal;
    if (e.kind == Kind::close && e.target == 'P' && e.name == name) return nullptr;
  }
  return portals_.find(name);
}

// ---- server to client ----------------------------------------------------------------------

bool PgRelay::may_stream(const Frame& f) const {
  if (pending_.empty()) return false;
  const Pending& e = pending_.front();
  if (e.kind != Kind::query && e.kind != Kind::execute) return false;
  if (f.type == be::kCopyData) return true;
  return f.type == be::kDataRow && e.observers.empty();
}

PgRelay::ServerStep PgRelay::on_server_bytes(Bytes in) {
  ServerStep step;
  std::size_t pos = 0;
  while (pos < in.size() && !step.fatal) {
    if (stream_remaining_ > 0) {
      std::size_t n = std::min(stream_remaining_, in.size() - pos);
      if (!stream_drop_) to_client_.pass(in.data() + pos, n);
      pos += n;
      stream_remaining_ -= n;
      continue;
    }
    auto d = sluice::pg::decode_backend(in.subspan(pos));
    if (d.status == DecodeStatus::invalid) {
      server_fatal(step, std::string("the server sent an invalid message: ") + d.error);
      break;
    }
    if (d.status == DecodeStatus::need_more) {
      const Frame& f = d.frame;
      if (d.header_known && f.wire_size() >= limits_.stream_threshold && may_stream(f)) {
        // Too large to buffer and nothing needs to look inside: count it, then let it flow.
        Pending& e = pending_.front();
        bool drop = e.cut || e.reported;
        if (!drop && f.type == be::kDataRow && e.counters) {
          if ((e.caps.max_rows && e.counters->rows + 1 > e.caps.max_rows) ||
              (e.caps.max_bytes && e.counters->bytes + f.wire_size() > e.caps.max_bytes)) {
            e.cut = true;
            step.cancel_upstream = true;
            drop = true;
          } else {
            e.counters->rows++;
            e.counters->bytes += f.wire_size();
          }
        }
        if (!drop && f.type == be::kDataRow) e.rows_this++;
        stream_remaining_ = f.wire_size();
        stream_drop_ = drop;
        continue;
      }
      if (d.header_known && f.wire_size() > limits_.frames.max_message_bytes) {
        if (f.type == be::kDataRow && !pending_.empty() &&
            (pending_.front().kind == Kind::query || pending_.front().kind == Kind::execute)) {
          // A row that must be inspected but is over the limit: cut the result rather than
          // pass an uninspected row (fail closed), and skip the row's bytes.
          Pending& e = pending_.front();
          if (!e.cut && !e.reported) step.cancel_upstream = true;
          e.cut = true;
          e.oversized = true;
          stream_remaining_ = f.wire_size();
          stream_drop_ = true;
          continue;
        }
        server_fatal(step, "the server sent a " + std::string(sluice::pg::backend_name(f.type)) +
                               " message of " + std::to_string(f.wire_size()) +
                               " bytes, over limits.max_message_bytes");
        break;
      }
      step.need = d.header_known ? f.wire_size() : 5;
      break;
    }
    handle_server(d.frame, in.data() + pos, step);
    pos += d.frame.wire_size();
  }
  step.consumed = pos;
  return step;
}

void PgRelay::handle_server(const Frame& f, const std::uint8_t* raw, ServerStep& step) {
  const std::size_t size = f.wire_size();
  switch (f.type) {
    case be::kNoticeResponse:
    case be::kNotificationResponse:
      to_client_.pass(raw, size);
      return;
    case be::kParameterStatus:
      on_parameter_status(f, raw, step);
      return;
    default:
      break;
  }
  if (pending_.empty()) {
    if (f.type == be::kErrorResponse && is_fatal_error(f.body)) {
      // The server ends the session on its own (shutdown, idle timeout): pass it on.
      to_client_.pass(raw, size);
      step.server_closing = true;
      return;
    }
    server_fatal(step, "the server sent " + std::string(sluice::pg::backend_name(f.type)) +
                           " when no response was owed");
    return;
  }

  Pending& e = pending_.front();
  auto unexpected = [&] {
    server_fatal(step, "the server sent an unexpected " +
                           std::string(sluice::pg::backend_name(f.type)) + " message");
  };
  // An error in answer to an extended-protocol message: the server now skips to Sync.
  auto extended_error = [&] {
    to_client_.pass(raw, size);
    if (is_fatal_error(f.body)) step.server_closing = true;
    // The server drops the unnamed statement before parsing and the unnamed portal when
    // binding; forget them on failure rather than keep a stale view.
    if (e.kind == Kind::parse && e.name.empty()) statements_.erase("");
    if (e.kind == Kind::bind && e.name.empty()) portals_.erase("");
    pop_front(step);
    skip_to_sync(step);
  };

  switch (e.kind) {
    case Kind::query:
    case Kind::execute:
      on_result_message(e, f, raw, step);
      return;
    case Kind::parse:
      if (f.type == be::kParseComplete) {
        statements_.set(e.name, e.stmt);
        to_client_.pass(raw, size);
        pop_front(step);
      } else if (f.type == be::kErrorResponse) {
        extended_error();
      } else {
        unexpected();
      }
      return;
    case Kind::bind:
      if (f.type == be::kBindComplete) {
        if (statements_.find(e.stmt->name) != e.stmt) {
          server_fatal(step, "prepared statement \"" + e.stmt->name +
                                 "\" on the server is not the one the gateway checked");
          return;
        }
        portals_.set(e.name, e.portal);
        to_client_.pass(raw, size);
        pop_front(step);
      } else if (f.type == be::kErrorResponse) {
        extended_error();
      } else {
        unexpected();
      }
      return;
    case Kind::describe:
      if (f.type == be::kParameterDescription && e.target == 'S') {
        to_client_.pass(raw, size);
      } else if (f.type == be::kRowDescription || f.type == be::kNoData) {
        if (f.type == be::kRowDescription && (e.stmt || e.portal)) {
          auto out = std::make_shared<Columns>();
          if (result_columns(f.body, *out)) (e.portal ? e.portal->columns : e.stmt->columns) = out;
        }
        to_client_.pass(raw, size);
        pop_front(step);
      } else if (f.type == be::kErrorResponse) {
        extended_error();
      } else {
        unexpected();
      }
      return;
    case Kind::close:
      if (f.type == be::kCloseComplete) {
        if (e.target == 'S') {
          statements_.erase(e.name);
        } else {
          portals_.erase(e.name);
        }
        to_client_.pass(raw, size);
        pop_front(step);
      } else if (f.type == be::kErrorResponse) {
        extended_error();
      } else {
        unexpected();
      }
      return;
    case Kind::sync:
      if (f.type == be::kReadyForQuery) {
        on_ready_for_query(f, raw, step);
      } else if (f.type == be::kErrorResponse) {
        // An implicit commit can fail at Sync (deferred constraints).
        to_client_.pass(raw, size);
        if (is_fatal_error(f.body)) step.server_closing = true;
      } else {
        unexpected();
      }
      return;
    case Kind::refused_query:
    case Kind::refused_parse:
      if (f.type == be::kErrorResponse) {
        if (e.reported) return;  // already shown; a second error is swallowed
        write_refusal(to_client_, *e.refusal);
        e.reported = true;
        if (e.kind == Kind::refused_parse) {
          pop_front(step);
          skip_to_sync(step);
        }
      } else if (f.type == be::kReadyForQuery && e.kind == Kind::refused_query) {
        on_ready_for_query(f, raw, step);
      } else {
        // The statement sent in place of a refused one did not fail: never pass that on.
        server_fatal(step,
                     "the server did not reject the gateway's placeholder for a refused "
                     "statement");
      }
      return;
    case Kind::silent_abort_query:
    case Kind::silent_abort_parse:
      if (f.type == be::kErrorResponse) {
        if (e.kind == Kind::silent_abort_parse) {
          pop_front(step);
          skip_to_sync(step);
        }
      } else if (f.type == be::kReadyForQuery && e.kind == Kind::silent_abort_query) {
        auto status = sluice::pg::parse_ready_for_query(f.body);
        if (!status) return server_fatal(step, "malformed ReadyForQuery from the server");
        tx_status_ = *status;
        pop_front(step);
      } else {
        server_fatal(step, "the server did not reject the gateway's transaction abort");
      }
      return;
  }
}

void PgRelay::on_result_message(Pending& e, const Frame& f, const std::uint8_t* raw,
                                ServerStep& step) {
  const std::size_t size = f.wire_size();
  const bool swallow = e.reported;
  switch (f.type) {
    case be::kDataRow:
      on_data_row(e, f, raw, step);
      return;
    case be::kCommandComplete:
    case be::kEmptyQueryResponse:
    case be::kPortalSuspended:
      if (f.type == be::kPortalSuspended && e.kind != Kind::execute) break;
      on_result_end(e, f, raw, step);
      return;
    case be::kRowDescription: {
      if (e.kind != Kind::query) break;
      if (swallow) return;
      if (!e.observers.empty()) {
        if (!result_columns(f.body, columns_))
          return server_fatal(step, "malformed RowDescription from the server");
        for (auto& o : e.observers) o->on_columns(columns_);
      }
      to_client_.pass(raw, size);
      return;
    }
    case be::kCopyInResponse:
    case be::kCopyOutResponse:
    case be::kCopyData:
    case be::kCopyDone:
      if (!swallow) to_client_.pass(raw, size);
      return;
    case be::kErrorResponse: {
      if (is_fatal_error(f.body)) step.server_closing = true;
      if (swallow) {
        // Already reported to the client.
      } else if (e.cut) {
        // The cancel landed: the server failed the statement. Tell the client why.
        write_cap_error(e);
        e.reported = true;
      } else {
        if (!e.observers.empty()) {
          auto fields = sluice::pg::parse_error_fields(f.body);
          for (auto& o : e.observers)
            o->on_error(fields ? fields->sqlstate : "", fields ? fields->message : "");
        }
        to_client_.pass(raw, size);
      }
      if (e.kind == Kind::execute) {
        pop_front(step);
        skip_to_sync(step);
      }
      return;
    }
    case be::kReadyForQuery:
      if (e.kind != Kind::query) break;
      on_ready_for_query(f, raw, step);
      return;
    case be::kCopyBothResponse:
      return server_fatal(step,
                          "the server started a replication stream (CopyBoth), which the "
                          "gateway does not relay");
    default:
      break;
  }
  server_fatal(step, "the server sent an unexpected " +
                         std::string(sluice::pg::backend_name(f.type)) + " in a result");
}

void PgRelay::on_data_row(Pending& e, const Frame& f, const std::uint8_t* raw, ServerStep& step) {
  if (e.kind == Kind::execute) describe_execute_columns(e);
  if (e.cut || e.reported) return;  // dropped: past a cap
  const std::size_t size = f.wire_size();
  if (e.counters) {
    if ((e.caps.max_rows && e.counters->rows + 1 > e.caps.max_rows) ||
        (e.caps.max_bytes && e.counters->bytes + size > e.caps.max_bytes)) {
      e.cut = true;
      step.cancel_upstream = true;
      return;
    }
    e.counters->rows++;
    e.counters->bytes += size;
  }
  e.rows_this++;
  if (e.observers.empty()) {
    to_client_.pass(raw, size);
    return;
  }
  if (!sluice::pg::parse_data_row(f.body, row_.cells))
    return server_fatal(step, "malformed DataRow from the server");
  for (auto& o : e.observers) o->on_row(row_);
  if (row_.modified()) {
    to_client_.own([&](std::string& s) { sluice::pg::append_data_row(s, row_.cells); });
  } else {
    to_client_.pass(raw, size);
  }
  row_.reset();
}

void PgRelay::on_result_end(Pending& e, const Frame& f, const std::uint8_t* raw, ServerStep& step) {
  if (e.kind == Kind::execute) describe_execute_columns(e);
  if (e.reported) return;  // the client was told it failed
  if (e.cut) {
    // The server finished the statement before the cancel arrived, but the client must see
    // the failure it is told of: report it, and make the server's transaction fail too.
    write_cap_error(e);
    e.reported = true;
    e.faked = true;
    for (auto& o : e.observers) o->on_error("54000", "result cut at the cap");
    if (e.kind == Kind::execute) {
      pop_front(step);
      skip_to_sync(step);
      abort_before_next_ = Abort::extended;
    }
    return;
  }
  std::string_view tag;
  if (f.type == be::kCommandComplete) {
    auto t = sluice::pg::parse_command_complete(f.body);
    if (!t) return server_fatal(step, "malformed CommandComplete from the server");
    tag = *t;
  }
  for (auto& o : e.observers) o->on_complete(tag, e.rows_this);
  e.rows_this = 0;
  to_client_.pass(raw, f.wire_size());
  if (e.kind == Kind::execute) {
    pop_front(step);
  } else if (e.counters && f.type != be::kPortalSuspended) {
    // Caps apply per statement of a simple query.
    e.counters->rows = 0;
    e.counters->bytes = 0;
  }
}

void PgRelay::on_ready_for_query(const Frame& f, const std::uint8_t* raw, ServerStep& step) {
  auto status = sluice::pg::parse_ready_for_query(f.body);
  if (!status) return server_fatal(step, "malformed ReadyForQuery from the server");
  Pending& e = pending_.front();
  char s = *status;
  if (e.kind == Kind::query && e.faked && s == 'T') {
    // The client was told a statement failed inside its transaction block; the server has to
    // agree before the client's next statement.
    s = 'E';
    to_client_.own([](std::string& out) { sluice::pg::append_ready_for_query(out, 'E'); });
    abort_before_next_ = Abort::simple;
  } else {
    to_client_.pass(raw, f.wire_size());
  }
  tx_status_ = s;
  if (s == 'I') portals_.clear();  // portals end with their transaction
  pop_front(step);
}

void PgRelay::on_parameter_status(const Frame& f, const std::uint8_t* raw, ServerStep& step) {
  auto p = sluice::pg::parse_parameter_status(f.body);
  if (!p) return server_fatal(step, "malformed ParameterStatus from the server");
  // The gateway and the server must lex SQL the same way (SECURITY.md §2).
  if (p->name == "standard_conforming_strings" && p->value != "on")
    return server_fatal(step, "the server reported standard_conforming_strings=" +
                                  std::string(p->value) + ", which the gateway pins to on");
  if (p->name == "client_encoding" && p->value != "UTF8")
    return server_fatal(step, "the server reported client_encoding=" + std::string(p->value) +
                                  ", which the gateway pins to UTF8");
  to_client_.pass(raw, f.wire_size());
}

void PgRelay::pop_front(ServerStep& step) {
  if (barrier_seq_ != 0 && barrier_seq_ == pending_.front().seq) {
    barrier_seq_ = 0;
    step.barrier_released = true;
  }
  pending_.pop_front();
}

void PgRelay::skip_to_sync(ServerStep& step) {
  while (!pending_.empty() && pending_.front().kind != Kind::sync) pop_front(step);
}

void PgRelay::server_fatal(ServerStep& step, std::string message) {
  fatal_ = {};
  fatal_.severity = "FATAL";
  fatal_.sqlstate = "08P01";
  fatal_.message = "sluice: " + message + "; the session was ended to stay safe";
  step.fatal = true;
}

void PgRelay::write_cap_error(const Pending& e) {
  metrics::counters().results_capped.add();
  sluice::pg::ErrorReport r;
  r.sqlstate = "54000";
  if (e.oversized) {
    r.message = "sluice: a result row is larger than limits.max_message_bytes (" +
                std::to_string(limits_.frames.max_message_bytes) +
                " bytes) and cannot be inspected; the result was cut";
    r.hint = "Select fewer or smaller columns.";
  } else {
    std::string what;
    if (e.caps.max_rows) what = "max_rows=" + std::to_string(e.caps.max_rows);
    if (e.caps.max_bytes) {
      if (!what.empty()) what += ", ";
      what += "max_bytes=" + std::to_string(e.caps.max_bytes);
    }
    r.message = "sluice: the result exceeded " + what +
                (e.caps.rule.empty() ? std::string() : " (rule " + e.caps.rule + ")") +
                "; rows past the cap were not sent and the statement was cancelled";
    r.hint = "Add a LIMIT or a narrower WHERE clause, or ask for a grant with a higher cap.";
  }
  to_client_.own([&](std::string& s) { sluice::pg::append_error(s, r); });
}

}  // namespace sluice::session::pg
