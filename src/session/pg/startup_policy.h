// What a client may ask for in its StartupMessage, and what the gateway re-applies upstream
// (SECURITY.md §2).
//
// Only an allowlist passes: application_name (sanitised, prefixed with the identity),
// DateStyle (ISO output only), TimeZone, IntervalStyle, extra_float_digits, and
// client_encoding, which must be UTF8. Everything else (options, role, search_path,
// replication, any other setting) is refused with an error that names it. The upstream user
// and database always come from the connection's configuration. Pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "proto/pg/frontend.h"

namespace sluice::session::pg {

struct StartupRequest {
  std::string user;
  std::string database;
  std::string application;  // sanitised application_name as the client sent it
  // Client settings to apply upstream, in the order sent.
  std::vector<std::pair<std::string, std::string>> settings;
  // `_pq_.` protocol options to list in NegotiateProtocolVersion.
  std::vector<std::string> unrecognized_options;
};

Result<StartupRequest> check_startup(const sluice::pg::StartupParams& params);

// The value sent upstream as application_name: "<identity>/<application>", at most 63 bytes.
std::string upstream_application_name(std::string_view identity, std::string_view application);

}  // namespace sluice::session::pg
