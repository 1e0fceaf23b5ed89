// PostgreSQL v3 wire protocol: message type bytes and the table of what each may be.
//
// Protocol reference: https://www.postgresql.org/docs/15/protocol-message-formats.html
// The table is the single place that says which frontend messages Sluice accepts after
// authentication and how large each may be. Anything not in it is refused (SECURITY.md §3:
// the FunctionCall message calls any function with no SQL at all).
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::pg {

// Untyped first-message codes.
inline constexpr std::uint32_t kProtocolV3 = 196608;  // 3.0
inline constexpr std::uint32_t kCancelRequestCode = 80877102;
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;

namespace fe {  // frontend (client to server) types
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyFail = 'f';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFlush = 'H';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kParse = 'P';
inline constexpr char kPassword = 'p';  // also SASLInitialResponse, SASLResponse
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
}  // namespace fe

namespace be {  // backend (server to client) types
inline constexpr char kAuthentication = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kDataRow = 'D';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
inline constexpr char kNoData = 'n';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kParameterDescription = 't';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kParseComplete = '1';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
}  // namespace be

// Authentication request codes carried in an 'R' message.
enum class AuthCode : std::int32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

// How a frontend message type may be used once a session is relaying.
struct FrontendRule {
  char type;
  std::string_view name;
  bool allowed;              // false: refused with an error naming the message
  std::uint32_t min_length;  // length field, which counts itself
  bool bounded_by_config;    // true: capped by limits.max_message_bytes, else by max_length
  std::uint32_t max_length;
};

// Returns the rule for `type`, or nullptr for a byte that is no frontend message at all.
const FrontendRule* frontend_rule(char type);

// A printable name for a backend message type (for logs and errors).
std::string_view backend_name(char type);

}  // namespace sluice::pg
