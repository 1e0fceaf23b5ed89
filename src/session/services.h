// SessionServices: what every session of a gateway shares, built once by the Gateway.
//
// Everything here outlives every session. Members are thread-safe or immutable after start-up.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "config/config.h"
#include "hook/statement_stage.h"
#include "net/asio.h"
#include "session/auth_throttle.h"
#include "session/session_registry.h"
#include "store/state_store.h"

namespace sluice::session {

struct SessionServices {
  const config::Config& config;
  store::StateStore& store;
  net::asio::thread_pool& blocking;  // for store calls
  SessionRegistry& registry;
  AuthThrottle& throttle;
  const hook::StatementPipeline& pipeline;
  std::shared_ptr<net::ssl::context> server_tls;  // null when the listener has no TLS
  std::shared_ptr<net::ssl::context> no_tls;      // placeholder for plain streams
  std::map<std::string, std::shared_ptr<net::ssl::context>> upstream_tls;  // by connection
  std::string install_secret;
  std::string node_name;
  std::atomic<bool> draining{false};
  audit::AuditLog* audit = nullptr;  // null when audit.enabled is false
};

}  // namespace sluice::session
