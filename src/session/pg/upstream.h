// Connecting the gateway to an upstream PostgreSQL server with the gateway-held credential.
//
// TLS follows the connection's mode (disable, prefer, require, verify-full; default
// verify-full). SCRAM-SHA-256 is preferred; MD5 and cleartext passwords are sent only over
// verified TLS or to a loopback address, so a downgrade cannot hand a network attacker the
// gateway's password (SECURITY.md §7). The session is started with the lexing settings pinned
// and the client's allowed settings re-applied; a server that reports other values for the
// pinned settings is refused.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "net/stream.h"
#include "proto/pg/frontend.h"

namespace sluice::session::pg {

struct UpstreamConnection {
  std::unique_ptr<net::Stream> stream;
  sluice::pg::CancelKey key;                                    // the server's own cancel key
  std::vector<std::pair<std::string, std::string>> parameters;  // from ParameterStatus
  net::tcp::endpoint endpoint;
  // Bytes the server sent after ReadyForQuery (none in practice); the relay starts with them.
  std::vector<std::uint8_t> pending;
};

// Settings every upstream session starts with, whatever the client asked.
std::vector<std::pair<std::string, std::string>> pinned_settings();

net::awaitable<Result<UpstreamConnection>> connect_upstream(
    const config::PostgresUpstream& cfg, net::ssl::context& tls,
    const std::vector<std::pair<std::string, std::string>>& settings);

// Sends a CancelRequest for `key` to `endpoint` on a new connection (as libpq does, in clear).
net::awaitable<void> send_cancel(net::tcp::endpoint endpoint, sluice::pg::CancelKey key);

}  // namespace sluice::session::pg
