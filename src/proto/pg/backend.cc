#include "proto/pg/backend.h"

#include "proto/pg/codec.h"

namespace sluice::pg {

std::optional<ErrorFields> parse_error_fields(Bytes body) {
  BodyReader r(body);
  ErrorFields f;
  std::string_view severity_localized;
  for (;;) {
    std::uint8_t code = r.u8();
    if (!r.ok()) return std::nullopt;
    if (code == 0) break;
    std::string_view v = r.cstr();
    if (!r.ok()) return std::nullopt;
    switch (code) {
      case 'S':
        severity_localized = v;
        break;
      case 'V':
        f.severity = v;
        break;
      case 'C':
        f.sqlstate = v;
        break;
      case 'M':
        f.message = v;
        break;
      case 'D':
        f.detail = v;
        break;
      case 'H':
        f.hint = v;
        break;
      default:
        break;
    }
  }
  if (!r.at_end()) return std::nullopt;
  if (f.severity.empty()) f.severity = severity_localized;
  return f;
}

std::optional<ParameterStatusMsg> parse_parameter_status(Bytes body) {
  BodyReader r(body);
  ParameterStatusMsg m{r.cstr(), r.cstr()};
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<CancelKey> parse_backend_key_data(Bytes body) {
  BodyReader r(body);
  CancelKey k{r.i32(), r.i32()};
  if (!r.done()) return std::nullopt;
  return k;
}

std::optional<char> parse_ready_for_query(Bytes body) {
  BodyReader r(body);
  char s = static_cast<char>(r.u8());
  if (!r.done() || (s != 'I' && s != 'T' && s != 'E')) return std::nullopt;
  return s;
}

std::optional<AuthenticationMsg> parse_authentication(Bytes body) {
  BodyReader r(body);
  AuthenticationMsg m;
  m.code = static_cast<AuthCode>(r.i32());
  if (!r.ok()) return std::nullopt;
  m.data = r.rest();
  return m;
}

std::optional<std::vector<std::string_view>> parse_sasl_mechanisms(Bytes data) {
  BodyReader r(data);
  std::vector<std::string_view> out;
  for (;;) {
    std::string_view m = r.cstr();
    if (!r.ok()) return std::nullopt;
    if (m.empty()) break;
    out.push_back(m);
  }
  return out;
}

std::optional<std::string_view> parse_command_complete(Bytes body) {
  BodyReader r(body);
  std::string_view tag = r.cstr();
  if (!r.done()) return std::nullopt;
  return tag;
}

std::optional<std::vector<ColumnDesc>> parse_row_description(Bytes body) {
  BodyReader r(body);
  std::int16_t n = r.i16();
  if (n < 0) return std::nullopt;
  std::vector<ColumnDesc> cols;
  cols.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n && r.ok(); ++i) {
    ColumnDesc c;
    c.name = r.cstr();
    c.table_oid = r.i32();
    c.column = r.i16();
    c.type_oid = r.i32();
    c.type_size = r.i16();
    c.type_modifier = r.i32();
    c.format = r.i16();
    cols.push_back(c);
  }
  if (!r.done()) return std::nullopt;
  return cols;
}

bool parse_data_row(Bytes body, std::vector<Cell>& cells) {
  cells.clear();
  BodyReader r(body);
  std::int16_t n = r.i16();
  if (n < 0) return false;
  for (int i = 0; i < n && r.ok(); ++i) {
    std::int32_t len = r.i32();
    if (len == -1) {
      cells.emplace_back(std::nullopt);
    } else if (len < 0) {
      return false;
    } else {
      cells.emplace_back(as_chars(r.bytes(static_cast<std::size_t>(len))));
    }
  }
  return r.done();
}

void append_error(std::string& out, const ErrorReport& e, char type) {
  MessageWriter w(out);
  w.begin(type);
  w.u8('S').cstr(e.severity).u8('V').cstr(e.severity);
  w.u8('C').cstr(e.sqlstate).u8('M').cstr(e.message);
  if (!e.detail.empty()) w.u8('D').cstr(e.detail);
  if (!e.hint.empty()) w.u8('H').cstr(e.hint);
  w.u8(0).end();
}

void append_auth(std::string& out, AuthCode code, std::string_view data) {
  MessageWriter w(out);
  w.begin(be::kAuthentication).i32(static_cast<std::int32_t>(code)).raw(data).end();
}

void append_auth_sasl(std::string& out, const std::vector<std::string_view>& mechanisms) {
  MessageWriter w(out);
  w.begin(be::kAuthentication).i32(static_cast<std::int32_t>(AuthCode::sasl));
  for (auto m : mechanisms) w.cstr(m);
  w.u8(0).end();
}

void append_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  MessageWriter w(out);
  w.begin(be::kParameterStatus).cstr(name).cstr(value).end();
}

void append_backend_key_data(std::string& out, CancelKey key) {
  MessageWriter w(out);
  w.begin(be::kBackendKeyData).i32(key.pid).i32(key.secret).end();
}

void append_ready_for_query(std::string& out, char status) {
  MessageWriter w(out);
  w.begin(be::kReadyForQuery).u8(static_cast<std::uint8_t>(status)).end();
}

void append_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                       const std::vector<std::string_view>& unrecognized) {
  MessageWriter w(out);
  w.begin(be::kNegotiateProtocolVersion).i32(newest_minor);
  w.i32(static_cast<std::int32_t>(unrecognized.size()));
  for (auto o : unrecognized) w.cstr(o);
  w.end();
}

void append_data_row(std::string& out, const std::vector<Cell>& cells) {
  MessageWriter w(out);
  w.begin(be::kDataRow).i16(static_cast<std::int16_t>(cells.size()));
  for (const auto& c : cells) {
    if (!c) {
      w.i32(-1);
    } else {
      w.i32(static_cast<std::int32_t>(c->size())).raw(*c);
    }
  }
  w.end();
}

void append_command_complete(std::string& out, std::string_view tag) {
  MessageWriter w(out);
  w.begin(be::kCommandComplete).cstr(tag).end();
}

}  // namespace sluice::pg
