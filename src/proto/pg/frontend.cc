#include "proto/pg/frontend.h"

#include "proto/pg/codec.h"
#include "proto/pg/message.h"

namespace sluice::pg {

std::optional<std::string_view> StartupParams::get(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return std::nullopt;
}

Result<StartupParams> parse_startup_params(std::uint32_t protocol, Bytes body) {
  StartupParams out;
  out.minor_version = static_cast<std::uint16_t>(protocol & 0xFFFF);
  BodyReader r(body);
  for (;;) {
    std::string_view name = r.cstr();
    if (!r.ok())
      return error(Code::protocol_violation, "startup packet parameters are not NUL-terminated");
    if (name.empty()) break;
    std::string_view value = r.cstr();
    if (!r.ok())
      return error(Code::protocol_violation,
                   "startup packet parameter '" + std::string(name) + "' has no value");
    for (const auto& [k, v] : out.params)
      if (k == name)
        return error(Code::protocol_violation,
                     "startup packet repeats parameter '" + std::string(name) + "'");
    out.params.emplace_back(name, value);
  }
  if (!r.at_end())
    return error(Code::protocol_violation, "startup packet has bytes after its terminator");
  return out;
}

std::optional<CancelKey> parse_cancel_request(Bytes body) {
  BodyReader r(body);
  CancelKey k{r.i32(), r.i32()};
  if (!r.done()) return std::nullopt;
  return k;
}

std::optional<QueryMsg> parse_query(Bytes body) {
  BodyReader r(body);
  QueryMsg q{r.cstr()};
  if (!r.done()) return std::nullopt;
  return q;
}

std::optional<ParseMsg> parse_parse(Bytes body) {
  BodyReader r(body);
  ParseMsg m;
  m.name = r.cstr();
  m.sql = r.cstr();
  m.param_count = r.i16();
  if (m.param_count < 0) return std::nullopt;
  m.param_types = r.bytes(static_cast<std::size_t>(m.param_count) * 4);
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<BindMsg> parse_bind(Bytes body) {
  BodyReader r(body);
  BindMsg m;
  m.portal = r.cstr();
  m.statement = r.cstr();
  m.param_format_count = r.i16();
  if (m.param_format_count < 0) return std::nullopt;
  m.param_formats = r.bytes(static_cast<std::size_t>(m.param_format_count) * 2);
  m.param_count = r.i16();
  if (m.param_count < 0 || !r.ok()) return std::nullopt;
  const std::size_t params_start = body.size() - r.remaining();
  for (int i = 0; i < m.param_count && r.ok(); ++i) {
    std::int32_t len = r.i32();
    if (len < -1) return std::nullopt;
    if (len > 0) r.bytes(static_cast<std::size_t>(len));
  }
  if (!r.ok()) return std::nullopt;
  m.params = body.subspan(params_start, body.size() - r.remaining() - params_start);
  m.result_format_count = r.i16();
  if (m.result_format_count < 0) return std::nullopt;
  m.result_formats = r.bytes(static_cast<std::size_t>(m.result_format_count) * 2);
  if (!r.done()) return std::nullopt;
  return m;
}

void BindMsg::decode_params(std::vector<std::optional<std::string_view>>& out) const {
  BodyReader r(params);
  for (int i = 0; i < param_count; ++i) {
    std::int32_t len = r.i32();
    if (len < 0) {
      out.emplace_back(std::nullopt);
    } else {
      out.emplace_back(as_chars(r.bytes(static_cast<std::size_t>(len))));
    }
  }
}

namespace {
std::int16_t format_code(std::int16_t count, Bytes codes, std::size_t i) {
  if (count == 0) return 0;
  if (count == 1) i = 0;
  if (i >= static_cast<std::size_t>(count)) return 0;
  return static_cast<std::int16_t>(load_be16(codes.data() + 2 * i));
}
}  // namespace

std::int16_t BindMsg::param_format(std::size_t i) const {
  return format_code(param_format_count, param_formats, i);
}
std::int16_t BindMsg::result_format(std::size_t i) const {
  return format_code(result_format_count, result_formats, i);
}

std::optional<DescribeMsg> parse_describe(Bytes body) {
  BodyReader r(body);
  DescribeMsg m;
  m.kind = static_cast<char>(r.u8());
  m.name = r.cstr();
  if (!r.done() || (m.kind != 'S' && m.kind != 'P')) return std::nullopt;
  return m;
}

std::optional<ExecuteMsg> parse_execute(Bytes body) {
  BodyReader r(body);
  ExecuteMsg m;
  m.portal = r.cstr();
  m.max_rows = r.i32();
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<SaslInitialMsg> parse_sasl_initial(Bytes body) {
  BodyReader r(body);
  SaslInitialMsg m;
  m.mechanism = r.cstr();
  std::int32_t len = r.i32();
  if (len >= 0) {
    m.data = as_chars(r.bytes(static_cast<std::size_t>(len)));
  } else if (len != -1) {
    return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  return m;
}

std::optional<std::string_view> parse_password(Bytes body) {
  BodyReader r(body);
  std::string_view p = r.cstr();
  if (!r.done()) return std::nullopt;
  return p;
}

void append_startup(std::string& out,
                    const std::vector<std::pair<std::string, std::string>>& params) {
  MessageWriter w(out);
  w.begin(0).i32(static_cast<std::int32_t>(kProtocolV3));
  for (const auto& [k, v] : params) w.cstr(k).cstr(v);
  w.u8(0).end();
}

void append_ssl_request(std::string& out) {
  MessageWriter(out).begin(0).i32(static_cast<std::int32_t>(kSslRequestCode)).end();
}

void append_cancel_request(std::string& out, CancelKey key) {
  MessageWriter w(out);
  w.begin(0).i32(static_cast<std::int32_t>(kCancelRequestCode)).i32(key.pid).i32(key.secret).end();
}

void append_password(std::string& out, std::string_view password) {
  MessageWriter w(out);
  w.begin(fe::kPassword).cstr(password).end();
}

void append_sasl_initial(std::string& out, std::string_view mechanism, std::string_view data) {
  MessageWriter w(out);
  w.begin(fe::kPassword)
      .cstr(mechanism)
      .i32(static_cast<std::int32_t>(data.size()))
      .raw(data)
      .end();
}

void append_sasl_response(std::string& out, std::string_view data) {
  MessageWriter w(out);
  w.begin(fe::kPassword).raw(data).end();
}

void append_query(std::string& out, std::string_view sql) {
  MessageWriter w(out);
  w.begin(fe::kQuery).cstr(sql).end();
}

void append_parse(std::string& out, std::string_view name, std::string_view sql) {
  MessageWriter w(out);
  w.begin(fe::kParse).cstr(name).cstr(sql).i16(0).end();
}

void append_sync(std::string& out) {
  MessageWriter(out).begin(fe::kSync).end();
}
void append_terminate(std::string& out) {
  MessageWriter(out).begin(fe::kTerminate).end();
}

}  // namespace sluice::pg
