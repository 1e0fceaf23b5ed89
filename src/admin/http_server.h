// HttpServer: the admin listener (Boost.Beast), HTTP/1.1 with keep-alive, TLS when the
// gateway has a certificate.
//
// It knows nothing of routes: each request goes to one handler coroutine. Limits protect the
// gateway from its own management port: header and body sizes, a per-request deadline, and a
// cap on connections. Runs on the io_context it is given (the admin thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "net/asio.h"

namespace sluice::admin {

struct Request {
  std::string method;
  std::string path;   // decoded target path, without the query
  std::string query;  // raw query string, without '?'
  std::string authorization;
  std::string content_type;
  std::string body;
  std::string remote;  // client address
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<net::awaitable<Response>(Request)>;

struct HttpServerLimits {
  // Above identity.oidc max_token_bytes, so that an oversized token is refused as such.
  std::size_t max_header_bytes = 32 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds request_timeout{10'000};  // per request, and idle keep-alive
  std::size_t max_connections = 256;
  std::size_t max_connections_per_address = 32;  // loopback is exempt (health probes)
};

class HttpServer {
 public:
  HttpServer(net::asio::io_context& io, std::shared_ptr<net::ssl::context> tls, Handler handler,
             HttpServerLimits limits = {});
  ~HttpServer();

  Status listen(const std::string& host, std::uint16_t port);
  std::uint16_t port() const;
  void start();
  void stop();

 private:
  net::awaitable<void> accept_loop();
  template <class S>
  net::awaitable<void> serve(S& stream, const std::string& remote);
  net::awaitable<void> connection(net::tcp::socket socket);

  net::asio::io_context& io_;
  std::shared_ptr<net::ssl::context> tls_;
  Handler handler_;
  HttpServerLimits limits_;
  net::tcp::acceptor acceptor_;
  std::size_t open_ = 0;
  std::map<std::string, std::size_t> per_address_;
  bool stopped_ = false;
};

}  // namespace sluice::admin
