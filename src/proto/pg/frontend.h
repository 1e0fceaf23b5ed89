// Frontend (client-to-server) message bodies: parsing what clients send, and building what
// the gateway itself sends upstream as a client.
//
// Parsers take the body of a complete frame (see frame.h) and return views into it; they fail
// when a field is missing, unterminated, or followed by trailing bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace sluice::pg {

// StartupMessage parameters, in the order sent.
struct StartupParams {
  std::uint16_t minor_version = 0;
  std::vector<std::pair<std::string_view, std::string_view>> params;
  std::optional<std::string_view> get(std::string_view name) const;
};
Result<StartupParams> parse_startup_params(std::uint32_t protocol, Bytes body);

struct CancelKey {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};
std::optional<CancelKey> parse_cancel_request(Bytes body);  // body after the code

struct QueryMsg {
  std::string_view sql;
};
std::optional<QueryMsg> parse_query(Bytes body);

struct ParseMsg {
  std::string_view name;
  std::string_view sql;
  std::int16_t param_count = 0;
  Bytes param_types;  // param_count big-endian OIDs
};
std::optional<ParseMsg> parse_parse(Bytes body);

// Bind, validated in place: nothing is copied or allocated. Parameters are decoded on demand.
struct BindMsg {
  std::string_view portal;
  std::string_view statement;
  std::int16_t param_format_count = 0;
  Bytes param_formats;  // param_format_count big-endian int16 codes
  std::int16_t param_count = 0;
  Bytes params;  // param_count (int32 length, bytes) pairs; length -1 is NULL
  std::int16_t result_format_count = 0;
  Bytes result_formats;  // result_format_count big-endian int16 codes

  // Appends the parameters to `out` (nullopt is SQL NULL).
  void decode_params(std::vector<std::optional<std::string_view>>& out) const;
  // The format code (0 text, 1 binary) of parameter or result column `i`: none given means
  // text, one applies to all, otherwise one each.
  std::int16_t param_format(std::size_t i) const;
  std::int16_t result_format(std::size_t i) const;
};
std::optional<BindMsg> parse_bind(Bytes body);

struct DescribeMsg {  // also Close
  char kind = 0;      // 'S' statement or 'P' portal
  std::string_view name;
};
std::optional<DescribeMsg> parse_describe(Bytes body);

struct ExecuteMsg {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
std::optional<ExecuteMsg> parse_execute(Bytes body);

struct SaslInitialMsg {
  std::string_view mechanism;
  std::optional<std::string_view> data;  // absent when length is -1
};
std::optional<SaslInitialMsg> parse_sasl_initial(Bytes body);
std::optional<std::string_view> parse_password(Bytes body);  // cleartext PasswordMessage

// Builders for the gateway acting as a client. Each appends one whole message to `out`.
void append_startup(std::string& out,
                    const std::vector<std::pair<std::string, std::string>>& params);
void append_ssl_request(std::string& out);
void append_cancel_request(std::string& out, CancelKey key);
void append_password(std::string& out, std::string_view password);
void append_sasl_initial(std::string& out, std::string_view mechanism, std::string_view data);
void append_sasl_response(std::string& out, std::string_view data);
void append_query(std::string& out, std::string_view sql);
void append_parse(std::string& out, std::string_view name, std::string_view sql);
void append_sync(std::string& out);
void append_terminate(std::string& out);

}  // namespace sluice::pg
