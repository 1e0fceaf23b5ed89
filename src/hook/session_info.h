// Who is on the other end of a session, fixed when it authenticates.
//
// Built by a protocol adapter after authentication and shared read-only by every stage of
// that session's statements. Holds no secrets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::hook {

enum class Protocol : std::uint8_t { postgres, snowflake, mysql };

// What a grant allows, checked before any rule (DESIGN.md, "Policy evaluation").
struct GrantScope {
  enum class Access : std::uint8_t { read, write };
  Access access = Access::read;
  std::vector<std::string> tables;   // empty: no table restriction
  std::vector<std::string> columns;  // empty: no column restriction
};

struct SessionInfo {
  std::string session_id;
  Protocol protocol = Protocol::postgres;
  std::string identity;
  std::vector<std::string> groups;
  std::string role;
  std::string connection;
  std::string grant_id;
  GrantScope scope;
  std::int64_t grant_expires_at_ms = 0;
  std::string client_address;
  std::string application;
  bool tls = false;
};

}  // namespace sluice::hook
