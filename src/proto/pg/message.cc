#include "proto/pg/message.h"

#include <array>

namespace sluice::pg {
namespace {

// Names of statements and portals are C strings of any length in the protocol; PostgreSQL
// itself keeps them whole. 4 KiB is far above what any driver generates.
constexpr std::uint32_t kSmall = 4096;

constexpr std::array<FrontendRule, 14> kFrontendRules{{
    {fe::kBind, "Bind", true, 4 + 1 + 1 + 2 + 2 + 2, true, 0},
    {fe::kClose, "Close", true, 4 + 1 + 1, false, kSmall},
    {fe::kCopyData, "CopyData", true, 4, true, 0},
    {fe::kCopyDone, "CopyDone", true, 4, false, 4},
    {fe::kCopyFail, "CopyFail", true, 4 + 1, false, kSmall},
    {fe::kDescribe, "Describe", true, 4 + 1 + 1, false, kSmall},
    {fe::kExecute, "Execute", true, 4 + 1 + 4, false, kSmall},
    {fe::kFlush, "Flush", true, 4, false, 4},
    // FunctionCall runs any function by OID with no SQL to analyse: never relayed.
    {fe::kFunctionCall, "FunctionCall", false, 4, false, kSmall},
    {fe::kParse, "Parse", true, 4 + 1 + 1 + 2, true, 0},
    // Password/SASL messages belong to authentication, never to a relaying session.
    {fe::kPassword, "PasswordMessage", false, 4, false, kSmall},
    {fe::kQuery, "Query", true, 4 + 1, true, 0},
    {fe::kSync, "Sync", true, 4, false, 4},
    {fe::kTerminate, "Terminate", true, 4, false, 4},
}};

}  // namespace

const FrontendRule* frontend_rule(char type) {
  for (const auto& r : kFrontendRules)
    if (r.type == type) return &r;
  return nullptr;
}

std::string_view backend_name(char type) {
  switch (type) {
    case be::kAuthentication:
      return "Authentication";
    case be::kBackendKeyData:
      return "BackendKeyData";
    case be::kBindComplete:
      return "BindComplete";
    case be::kCloseComplete:
      return "CloseComplete";
    case be::kCommandComplete:
      return "CommandComplete";
    case be::kCopyData:
      return "CopyData";
    case be::kCopyDone:
      return "CopyDone";
    case be::kCopyInResponse:
      return "CopyInResponse";
    case be::kCopyOutResponse:
      return "CopyOutResponse";
    case be::kCopyBothResponse:
      return "CopyBothResponse";
    case be::kDataRow:
      return "DataRow";
    case be::kEmptyQueryResponse:
      return "EmptyQueryResponse";
    case be::kErrorResponse:
      return "ErrorResponse";
    case be::kFunctionCallResponse:
      return "FunctionCallResponse";
    case be::kNegotiateProtocolVersion:
      return "NegotiateProtocolVersion";
    case be::kNoData:
      return "NoData";
    case be::kNoticeResponse:
      return "NoticeResponse";
    case be::kNotificationResponse:
      return "NotificationResponse";
    case be::kParameterDescription:
      return "ParameterDescription";
    case be::kParameterStatus:
      return "ParameterStatus";
    case be::kParseComplete:
      return "ParseComplete";
    case be::kPortalSuspended:
      return "PortalSuspended";
    case be::kReadyForQuery:
      return "ReadyForQuery";
    case be::kRowDescription:
      return "RowDescription";
    default:
      return "unknown";
  }
}

}  // namespace sluice::pg
