#include "audit/event_body.h"

#include <array>
#include <cstdint>

#include "core/json_writer.h"
#include "core/pointer_bucket.h"
#include "crypto/primitives.h"

namespace sluice::audit {
namespace {

constexpr std::string_view kOrigins[] = {"simple_query", "prepare", "execute", "function_call",
                                         "request"};

// The JSON of one analysed statement's facts, read from its packed form.
void render_analysis(PackReader& r, JsonWriter& w) {
  w.begin_array();
  for (std::uint32_t i = 0, n = r.u32(); i < n && r.ok(); ++i) {
    w.begin_object().field("kind", r.str());
    w.key("reads").begin_array();
    for (std::uint32_t k = 0, m = r.u32(); k < m && r.ok(); ++k) w.text(r.str());
    w.end_array().key("writes").begin_array();
    for (std::uint32_t k = 0, m = r.u32(); k < m && r.ok(); ++k) w.text(r.str());
    w.end_array().key("columns").begin_array();
    for (std::uint32_t k = 0, m = r.u32(); k < m && r.ok(); ++k) {
      const std::string_view relation = r.str();
      const std::string_view column = r.str();
      w.begin_object()
          .field("relation", relation)
          .field("column", column)
          .field("clause", r.str())
          .end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
}

// Each returns what it found malformed beyond a short read (a code no version wrote), or "".
std::string render_statement(PackReader& r, std::string& out) {
  const std::string_view session = r.str();
  const std::uint64_t n = r.u64();
  const std::uint8_t origin = r.u8();
  const std::string_view text = r.str();
  const std::string_view name = r.str();
  JsonWriter w(out);
  w.begin_object().field("session", session).field("n", n);
  if (origin >= std::size(kOrigins)) return "an unknown origin code " + std::to_string(origin);
  w.field("origin", kOrigins[origin]);
  w.field("text", text);
  if (!name.empty()) w.field("name", name);
  if (const std::uint32_t params = r.u32()) {
    w.key("params").begin_array();
    for (std::uint32_t i = 0; i < params && r.ok(); ++i) {
      const std::uint8_t binary = r.u8();
      const std::optional<std::string_view> p = r.opt();
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
  const std::uint8_t verdict_code = r.u8();
  if (verdict_code > static_cast<std::uint8_t>(VerdictCode::hold))
    return "an unknown decision code " + std::to_string(verdict_code);
  const auto verdict = static_cast<VerdictCode>(verdict_code);
  w.field("decision", std::string_view(verdict == VerdictCode::refuse ? "refuse"
                                       : verdict == VerdictCode::hold ? "hold"
                                                                      : "allow"));
  if (const std::string_view rule = r.str(); !rule.empty()) w.field("rule", rule);
  if (verdict == VerdictCode::refuse) {
    const std::string_view sqlstate = r.str();
    w.field("sqlstate", sqlstate).field("message", r.str());
  }
  if (r.u8()) {
    const std::uint64_t max_rows = r.u64();
    w.field("max_rows", max_rows).field("max_bytes", r.u64());
  }
  if (r.u8()) {
    w.key("analysis");
    render_analysis(r, w);
    if (const std::string_view error = r.str(); !error.empty()) w.field("analysis_error", error);
  }
  w.end_object();
  return {};
}

std::string render_result(PackReader& r, std::string& out) {
  const std::string_view session = r.str();
  const std::uint64_t n = r.u64();
  const std::uint64_t set = r.u64();
  const std::int64_t duration_us = r.i64();
  const std::uint64_t rows = r.u64();
  const std::uint64_t bytes = r.u64();
  const bool truncated = r.u8();
  const std::string_view tag = r.str();
  JsonWriter w(out);
  w.begin_object()
      .field("session", session)
      .field("n", n)
      .field("set", set)
      .field("duration_us", duration_us)
      .field("rows", rows)
      .field("bytes", bytes)
      .field("truncated", truncated);
  if (!tag.empty()) w.field("tag", tag);
  if (r.u8()) {
    const std::string_view sqlstate = r.str();
    w.key("error").begin_object().field("sqlstate", sqlstate).field("message", r.str());
    w.end_object();
  }
  w.key("masked").begin_object();
  for (std::uint32_t i = 0, masked = r.u32(); i < masked && r.ok(); ++i) {
    const std::string_view column = r.str();
    w.key_string(column).unsigned_number(r.u64());
  }
  w.end_object();
  const std::uint64_t kept = r.u64();
  w.key("columns").begin_array();
  for (std::uint32_t i = 0, columns = r.u32(); i < columns && r.ok(); ++i) {
    const std::string_view name = r.str();
    const std::uint32_t type = r.u32();
    w.begin_object()
        .field("name", name)
        .field("type", static_cast<std::uint64_t>(type))
        .field("binary", r.u8() != 0)
        .end_object();
  }
  w.end_array().key("data").begin_array();
  for (std::uint64_t row = 0; row < kept && r.ok(); ++row) {
    w.begin_array();
    for (std::uint32_t i = 0, cells = r.u32(); i < cells && r.ok(); ++i) {
      if (auto c = r.opt())
        w.text(*c);
      else
        w.null();
    }
    w.end_array();
  }
  w.end_array().end_object();
  return {};
}

}  // namespace

std::uint8_t origin_code(hook::Origin origin) {
  switch (origin) {
    case hook::Origin::simple_query:
      return 0;
    case hook::Origin::prepare:
      return 1;
    case hook::Origin::execute:
      return 2;
    case hook::Origin::function_call:
      return 3;
    case hook::Origin::request:
      return 4;
  }
  return 255;
}

void pack_analysis(const sql::Analysis* a, std::string& out) {
  PackWriter p(out);
  if (!a) {
    p.u8(0);
    return;
  }
  p.u8(1).u32(static_cast<std::uint32_t>(a->statements.size()));
  for (const auto& f : a->statements) {
    p.str(sql::to_string(f.kind)).u32(static_cast<std::uint32_t>(f.reads.size()));
    for (const auto& r : f.reads) p.str(r);
    p.u32(static_cast<std::uint32_t>(f.writes.size()));
    for (const auto& r : f.writes) p.str(r);
    p.u32(static_cast<std::uint32_t>(f.columns.size()));
    for (const auto& c : f.columns) p.str(c.relation).str(c.column).str(sql::to_string(c.clause));
  }
  p.str(a->error);
}

void finish_statement(std::string_view packed, const std::shared_ptr<const void>& held,
                      std::string& body) {
  body.append(packed);
  if (!held) {
    pack_analysis(nullptr, body);
    return;
  }
  // Statements repeat (prepared statements, and texts of one literal shape share an
  // analysis), so the writer keeps the packed form of recent analyses, in a small table
  // indexed by the analysis's address: one per session's prepared statement, say, whose
  // records interleave.
  struct Packed {
    std::shared_ptr<const void> analysis;  // held: its address stays unique
    std::string bytes;
  };
  constexpr int kBits = 5;
  thread_local std::array<Packed, 1u << kBits> recent;
  Packed& slot = recent[pointer_bucket<kBits>(held.get())];
  if (slot.analysis != held) {
    slot.analysis.reset();  // should packing throw, the slot holds nothing
    slot.bytes.clear();
    pack_analysis(static_cast<const sql::Analysis*>(held.get()), slot.bytes);
    slot.analysis = held;
  }
  body.append(slot.bytes);
}

Result<std::string> body_json(Kind kind, std::string_view body) {
  if (body.empty() || static_cast<std::uint8_t>(body[0]) != kPackedBody) return std::string(body);
  PackReader r(body.substr(1));
  std::string out, bad;
  if (kind == Kind::statement)
    bad = render_statement(r, out);
  else if (kind == Kind::result)
    bad = render_result(r, out);
  else
    return error(Code::invalid_argument,
                 "a packed body in a " + std::string(kind_name(kind)) +
                     " record (only statement and result records are packed)");
  if (!r.ok()) return error(Code::invalid_argument, "the packed body ends inside a field");
  if (!bad.empty()) return error(Code::invalid_argument, "the packed body has " + bad);
  if (!r.done())
    return error(Code::invalid_argument, "the packed body has bytes after its last field");
  return out;
}

bool body_has_session(std::string_view body, std::string_view id) {
  if (!body.empty() && static_cast<std::uint8_t>(body[0]) == kPackedBody) {
    PackReader r(body.substr(1));
    return r.str() == id && r.ok();
  }
  const std::size_t at = body.find("\"session\":\"");
  return at != std::string_view::npos && body.substr(at + 11, id.size()) == id &&
         body.substr(at + 11 + id.size(), 1) == "\"";
}

}  // namespace sluice::audit
