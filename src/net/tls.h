// TLS contexts: the gateway as a server to clients, and as a client to upstream databases.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "net/asio.h"

namespace sluice::net {

// Server context from a certificate chain and key (TLS 1.2 and later).
Result<std::shared_ptr<ssl::context>> make_server_tls(const config::ClientTls& cfg);

// Client context for an upstream: verification per mode. For verify-full the caller must also
// set SNI and the expected host name on each connection (prepare_client_tls).
Result<std::shared_ptr<ssl::context>> make_client_tls(config::UpstreamTls mode,
                                                      const std::string& ca_file);
// Sets SNI and, for verify-full, the host name OpenSSL checks the certificate against.
Status prepare_client_tls(ssl::stream<tcp::socket>& s, config::UpstreamTls mode,
                          const std::string& host_name);

}  // namespace sluice::net
