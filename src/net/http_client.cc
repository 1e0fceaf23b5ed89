#include "net/http_client.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "config/config.h"
#include "net/stream.h"
#include "net/tls.h"

namespace sluice::net {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

struct Target {
  bool tls = false;
  std::string host;       // for connecting and certificate checks (no brackets)
  std::string host_port;  // for the Host header
  std::string port;
  std::string path;  // origin-form request target
};

Result<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return error(Code::invalid_argument, "not an absolute URL: " + url);
  boost::urls::url_view u = *parsed;
  Target t;
  if (u.scheme() == "https") {
    t.tls = true;
  } else if (u.scheme() != "http") {
    return error(Code::invalid_argument, "expected an http or https URL: " + url);
  }
  t.host = std::string(u.host_address());
  if (t.host.empty()) return error(Code::invalid_argument, "the URL has no host: " + url);
  t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
  t.host_port = std::string(u.encoded_host_and_port());
  t.path = std::string(u.encoded_path());
  if (t.path.empty()) t.path = "/";
  if (u.has_query()) t.path += "?" + std::string(u.encoded_query());
  if (!t.tls && !config::is_loopback_host(t.host))
    return error(Code::invalid_argument,
                 "refusing plain http to " + t.host + ": use https (http only to loopback)");
  return t;
}

template <class S>
awaitable<Result<HttpResponse>> exchange(S& stream, http::request<http::string_body>& req,
                                         std::size_t max_body, const std::string& what) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec) co_return error(Code::unavailable, what + ": sending the request: " + wec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  parser.header_limit(16 * 1024);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (rec == http::error::body_limit)
    co_return error(Code::resource_exhausted,
                    what + ": the response is larger than " + std::to_string(max_body) + " bytes");
  if (rec) co_return error(Code::unavailable, what + ": reading the response: " + rec.message());
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  out.content_type = std::string(res[http::field::content_type]);
  co_return out;
}

}  // namespace

awaitable<Result<HttpResponse>> http_fetch(HttpRequest request) {
  auto target = parse_target(request.url);
  if (!target) co_return target.status();
  const Target& t = *target;
  std::string what = request.method + " " + request.url;

  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::tcp_stream tcp_stream(ex);
  tcp_stream.expires_after(request.timeout);  // one deadline for the whole exchange
  auto [ec, endpoints] = co_await resolver.async_resolve(t.host, t.port, use_nothrow);
  if (ec)
    co_return error(Code::unavailable, what + ": cannot resolve " + t.host + ": " + ec.message());
  auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, use_nothrow);
  if (cec) co_return error(Code::unavailable, what + ": cannot connect: " + cec.message());

  http::request<http::string_body> req;
  auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown)
    co_return error(Code::invalid_argument, "unknown HTTP method " + request.method);
  req.method(verb);
  req.target(t.path);
  req.version(11);
  req.set(http::field::host, t.host_port);
  req.set(http::field::user_agent, "sluice");
  req.set(http::field::accept, "application/json");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  if (!request.body.empty() || request.method == "POST") {
    req.body() = request.body;
    req.set(http::field::content_type,
            request.content_type.empty() ? "application/json" : request.content_type);
  }
  req.prepare_payload();

  if (!t.tls) {
    auto r = co_await exchange(tcp_stream, req, request.max_body, what);
    error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
  }
  auto ctx = make_client_tls(config::UpstreamTls::verify_full, request.ca_file);
  if (!ctx) co_return ctx.status();
  beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), **ctx);
  {
    SSL* h = tls.native_handle();
    error_code aec;
    asio::ip::make_address(t.host, aec);
    if (aec && SSL_set_tlsext_host_name(h, t.host.c_str()) != 1)
      co_return error(Code::internal, "cannot set the TLS server name");
    bool set = aec ? SSL_set1_host(h, t.host.c_str()) == 1
                   : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h), t.host.c_str()) == 1;
    if (!set) co_return error(Code::internal, "cannot set the expected server name");
  }
  auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
  if (hec) co_return error(Code::unavailable, what + ": TLS handshake failed: " + hec.message());
  auto r = co_await exchange(tls, req, request.max_body, what);
  auto [sec] = co_await tls.async_shutdown(use_nothrow);
  (void)sec;
  co_return r;
}

namespace {
awaitable<void> fetch_into(HttpRequest request, std::optional<Result<HttpResponse>>* out) {
  auto op = http_fetch(std::move(request));  // no temporaries inside co_await (GCC 12)
  auto r = co_await std::move(op);
  out->emplace(std::move(r));
}
}  // namespace

Result<HttpResponse> http_fetch_blocking(HttpRequest request) {
  asio::io_context io;
  std::optional<Result<HttpResponse>> out;
  asio::co_spawn(io, fetch_into(std::move(request), &out), asio::detached);
  io.run();
  if (!out) return error(Code::internal, "HTTP client did not finish");
  return std::move(*out);
}

}  // namespace sluice::net
