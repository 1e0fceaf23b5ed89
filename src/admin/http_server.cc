#include "admin/http_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include "core/log.h"
#include "core/metrics.h"

namespace sluice::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using net::use_nothrow;

// The API's error shape, {"error": code, "reason": text}, for what fails before routing.
Response plain_error(int status, std::string_view code, std::string message) {
  Response r;
  r.status = status;
  r.body = "{\"error\":\"" + std::string(code) + "\",\"reason\":\"" + message + "\"}";
  return r;
}

// The request target split into a decoded path and the raw query; nullopt when malformed.
std::optional<std::pair<std::string, std::string>> split_target(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;
  std::string path = std::string(parsed->path());
  return std::make_pair(path, std::string(parsed->encoded_query()));
}

}  // namespace

HttpServer::HttpServer(net::asio::io_context& io, std::shared_ptr<net::ssl::context> tls,
                       Handler handler, HttpServerLimits limits)
    : io_(io), tls_(std::move(tls)), handler_(std::move(handler)), limits_(limits), acceptor_(io) {}

HttpServer::~HttpServer() = default;

Status HttpServer::listen(const std::string& host, std::uint16_t port) {
  net::error_code ec;
  auto addr = net::asio::ip::make_address(host, ec);
  if (ec) return error(Code::invalid_argument, "listen.admin: '" + host + "' is not an IP address");
  net::tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::asio::socket_base::max_listen_connections, ec);
  if (ec)
    return error(Code::io_error, "listen.admin: cannot listen on " + host + ":" +
                                     std::to_string(port) + ": " + ec.message());
  return Status::ok();
}

std::uint16_t HttpServer::port() const {
  net::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::start() {
  net::asio::co_spawn(io_, accept_loop(), net::asio::detached);
}

void HttpServer::stop() {
  stopped_ = true;
  net::error_code ec;
  acceptor_.close(ec);
}

net::awaitable<void> HttpServer::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (stopped_ || ec == net::asio::error::operation_aborted) co_return;
      continue;
    }
    net::error_code pec;
    auto peer = socket.remote_endpoint(pec);
    bool loopback = !pec && peer.address().is_loopback();
    std::string addr = pec ? std::string("?") : peer.address().to_string();
    if ((open_ >= limits_.max_connections && !loopback) ||
        (!loopback && per_address_[addr] >= limits_.max_connections_per_address)) {
      net::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++open_;  // counted here, before the coroutine runs
    ++per_address_[addr];
    net::asio::co_spawn(io_, connection(std::move(socket)), net::asio::detached);
  }
}

net::awaitable<void> HttpServer::connection(net::tcp::socket socket) {
  net::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string("?") : peer.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  try {
    if (tls_) {
      beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *tls_);
      beast::get_lowest_layer(tls).expires_after(limits_.request_timeout);
      auto [hec] = co_await tls.async_handshake(net::ssl::stream_base::server, use_nothrow);
      if (!hec) {
        co_await serve(tls, remote);
        beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(2));
        auto [sec] = co_await tls.async_shutdown(use_nothrow);
        (void)sec;
      }
    } else {
      co_await serve(stream, remote);
      stream.socket().shutdown(net::tcp::socket::shutdown_send, ec);
    }
  } catch (const std::exception& e) {
    log::error("admin", "connection from ", remote, " failed: ", e.what());
  }
  --open_;
  if (auto it = per_address_.find(remote); it != per_address_.end() && --it->second == 0)
    per_address_.erase(it);
}

template <class S>
net::awaitable<void> HttpServer::serve(S& stream, const std::string& remote) {
  beast::flat_buffer buffer;
  while (!stopped_) {
    beast::get_lowest_layer(stream).expires_after(limits_.request_timeout);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body_bytes);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec == http::error::end_of_stream || ec == net::asio::error::eof) co_return;
    Response res;
    bool keep_alive = false;
    unsigned version = 11;
    if (ec == http::error::body_limit) {
      res = plain_error(
          413, "too_large",
          "the request body is over " + std::to_string(limits_.max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      res = plain_error(
          431, "too_large",
          "the request headers are over " + std::to_string(limits_.max_header_bytes) + " bytes");
    } else if (ec) {
      co_return;  // timeout, reset, or not HTTP: nothing useful to answer
    } else {
      auto& msg = parser.get();
      version = msg.version();
      keep_alive = msg.keep_alive();
      auto target = split_target(msg.target());
      if (!target) {
        res = plain_error(400, "invalid_request", "malformed request target");
      } else {
        Request req;
        req.method = std::string(msg.method_string());
        req.path = std::move(target->first);
        req.query = std::move(target->second);
        req.authorization = std::string(msg[http::field::authorization]);
        req.content_type = std::string(msg[http::field::content_type]);
        req.body = std::move(msg.body());
        req.remote = remote;
        metrics::counters().admin_requests.add();
        // Not `co_await handler_(std::move(req))`: GCC 12 mishandles non-trivial temporaries
        // in a co_await expression (tests/unit/coroutine_temporaries_test.cc).
        auto op = handler_(std::move(req));
        res = co_await std::move(op);
      }
    }
    if (res.status >= 400) metrics::counters().admin_errors.add();
    http::response<http::string_body> out{static_cast<http::status>(res.status), version};
    out.set(http::field::server, "sluice");
    out.set(http::field::content_type, res.content_type);
    out.set(http::field::cache_control, "no-store");
    out.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : res.headers) out.set(k, v);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, out, use_nothrow);
    if (wec || !keep_alive) co_return;
  }
}

}  // namespace sluice::admin
