#include "net/stream.h"

namespace sluice::net {

awaitable<error_code> Stream::handshake(bool server) {
  auto [ec] = co_await ssl_.async_handshake(
      server ? ssl::stream_base::server : ssl::stream_base::client, use_nothrow);
  if (!ec) tls_ = true;
  co_return ec;
}

std::size_t Stream::write_now(std::span<const Bytes> segments, error_code& ec) {
  ec = {};
  if (tls_) return 0;
  auto& s = socket();
  if (!non_blocking_) {
    s.non_blocking(true, ec);
    if (ec) return 0;
    non_blocking_ = true;
  }
  gather(segments, 0);
  std::size_t n = s.write_some(gather_, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    return 0;
  }
  return n;
}

void Stream::close() {
  error_code ignored;
  ssl_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  ssl_.next_layer().close(ignored);
}

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().is_loopback();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

}  // namespace sluice::net
