// A small HTTP/1.1 client (Boost.Beast): OIDC discovery and JWKS fetches, and the CLI's calls
// to the admin API.
//
// https verifies the certificate chain and the host name (verify-full). Plain http is refused
// except to a loopback address: credentials and key material never cross a network in clear.
// Every request has a deadline and a response size cap.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "net/asio.h"

namespace sluice::net {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;  // with a body
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_body = 1 << 20;
  std::string ca_file;  // https: trust these CAs instead of the system store
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Runs on the caller's executor.
awaitable<Result<HttpResponse>> http_fetch(HttpRequest request);

// For code that is not on an event loop (the CLI): runs its own.
Result<HttpResponse> http_fetch_blocking(HttpRequest request);

}  // namespace sluice::net
