// Helpers for unit tests of the PostgreSQL codec and relay: build messages, and split output
// segments back into (type, body) pairs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "proto/pg/backend.h"
#include "proto/pg/codec.h"
#include "proto/pg/frame.h"
#include "proto/pg/frontend.h"

namespace sluice::testing {

struct Msg {
  char type;
  std::string body;
};

inline std::string concat(const std::vector<Bytes>& segs) {
  std::string s;
  for (auto b : segs) s.append(as_chars(b));
  return s;
}

// Splits backend-style typed messages.
inline std::vector<Msg> split(const std::string& bytes) {
  std::vector<Msg> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto d = pg::decode_backend(as_bytes(std::string_view(bytes).substr(pos)));
    if (d.status != pg::DecodeStatus::complete) break;
    out.push_back({d.frame.type, std::string(as_chars(d.frame.body))});
    pos += d.frame.wire_size();
  }
  return out;
}

inline std::string types(const std::vector<Msg>& msgs) {
  std::string t;
  for (const auto& m : msgs) t += m.type;
  return t;
}

inline std::string msg(char type, const std::string& body) {
  std::string out;
  pg::MessageWriter w(out);
  w.begin(type).raw(body).end();
  return out;
}

inline std::string bind(const std::string& portal, const std::string& stmt,
                        const std::vector<std::string>& params = {}) {
  std::string out;
  pg::MessageWriter w(out);
  w.begin('B').cstr(portal).cstr(stmt).i16(0).i16(static_cast<std::int16_t>(params.size()));
  for (const auto& p : params) w.i32(static_cast<std::int32_t>(p.size())).raw(p);
  w.i16(0).end();
  return out;
}

inline std::string execute(const std::string& portal, std::int32_t max_rows = 0) {
  std::string out;
  pg::MessageWriter w(out);
  w.begin('E').cstr(portal).i32(max_rows).end();
  return out;
}

inline std::string describe(char kind, const std::string& name) {
  std::string out;
  pg::MessageWriter w(out);
  w.begin('D').u8(static_cast<std::uint8_t>(kind)).cstr(name).end();
  return out;
}

inline std::string close_msg(char kind, const std::string& name) {
  std::string out;
  pg::MessageWriter w(out);
  w.begin('C').u8(static_cast<std::uint8_t>(kind)).cstr(name).end();
  return out;
}

inline std::string query(const std::string& sql) {
  std::string out;
  pg::append_query(out, sql);
  return out;
}

inline std::string parse(const std::string& name, const std::string& sql) {
  std::string out;
  pg::append_parse(out, name, sql);
  return out;
}

inline std::string sync() {
  std::string out;
  pg::append_sync(out);
  return out;
}

// Server messages.
inline std::string server_error(const std::string& sqlstate, const std::string& message,
                                const std::string& severity = "ERROR") {
  std::string out;
  pg::ErrorReport e;
  e.severity = severity;
  e.sqlstate = sqlstate;
  e.message = message;
  pg::append_error(out, e);
  return out;
}
inline std::string rfq(char status) {
  std::string out;
  pg::append_ready_for_query(out, status);
  return out;
}
inline std::string row(const std::vector<std::string>& cells) {
  std::string out;
  std::vector<pg::Cell> c(cells.begin(), cells.end());
  pg::append_data_row(out, c);
  return out;
}
inline std::string complete(const std::string& tag) {
  std::string out;
  pg::append_command_complete(out, tag);
  return out;
}
inline std::string simple(char type) {
  return msg(type, "");
}

inline pg::ErrorFields error_of(const Msg& m) {
  return *pg::parse_error_fields(as_bytes(m.body));
}

}  // namespace sluice::testing
