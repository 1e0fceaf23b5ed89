// Backend (server-to-client) message bodies: parsing what servers send, and building what
// the gateway itself tells clients.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "proto/pg/frontend.h"
#include "proto/pg/message.h"

namespace sluice::pg {

// ErrorResponse / NoticeResponse: fields by their one-letter code.
struct ErrorFields {
  std::string_view severity;  // 'S' (localized) or 'V'
  std::string_view sqlstate;  // 'C'
  std::string_view message;   // 'M'
  std::string_view detail;    // 'D'
  std::string_view hint;      // 'H'
};
std::optional<ErrorFields> parse_error_fields(Bytes body);

struct ParameterStatusMsg {
  std::string_view name;
  std::string_view value;
};
std::optional<ParameterStatusMsg> parse_parameter_status(Bytes body);
std::optional<CancelKey> parse_backend_key_data(Bytes body);
std::optional<char> parse_ready_for_query(Bytes body);  // 'I', 'T' or 'E'

struct AuthenticationMsg {
  AuthCode code = AuthCode::ok;
  Bytes data;  // the rest: MD5 salt, SASL mechanism list or SASL data
};
std::optional<AuthenticationMsg> parse_authentication(Bytes body);
// Splits a SASL mechanism list (NUL-terminated names, then an empty name).
std::optional<std::vector<std::string_view>> parse_sasl_mechanisms(Bytes data);

std::optional<std::string_view> parse_command_complete(Bytes body);

struct ColumnDesc {
  std::string_view name;
  std::int32_t table_oid = 0;
  std::int16_t column = 0;
  std::int32_t type_oid = 0;
  std::int16_t type_size = 0;
  std::int32_t type_modifier = 0;
  std::int16_t format = 0;
};
std::optional<std::vector<ColumnDesc>> parse_row_description(Bytes body);

// A DataRow's cells as views into the body; nullopt is SQL NULL.
using Cell = std::optional<std::string_view>;
bool parse_data_row(Bytes body, std::vector<Cell>& cells);

// What the gateway itself reports to clients.
struct ErrorReport {
  std::string_view severity = "ERROR";  // ERROR or FATAL
  std::string_view sqlstate;
  std::string message;  // begins with "sluice: "
  std::string detail;
  std::string hint;
};
void append_error(std::string& out, const ErrorReport& e, char type = be::kErrorResponse);
void append_auth(std::string& out, AuthCode code, std::string_view data = {});
void append_auth_sasl(std::string& out, const std::vector<std::string_view>& mechanisms);
void append_parameter_status(std::string& out, std::string_view name, std::string_view value);
void append_backend_key_data(std::string& out, CancelKey key);
void append_ready_for_query(std::string& out, char status);
void append_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                       const std::vector<std::string_view>& unrecognized);
void append_data_row(std::string& out, const std::vector<Cell>& cells);
void append_command_complete(std::string& out, std::string_view tag);

}  // namespace sluice::pg
