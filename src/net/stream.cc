#include "net/stream.h"

namespace sluice::net {

awaitable<std::tuple<error_code, std::size_t>> Stream::read_some(std::span<std::uint8_t> into) {
  auto buf = asio::buffer(into.data(), into.size());
  auto token = asio::bind_cancellation_slot(read_cancel_.slot(), use_nothrow);
  if (tls_) co_return co_await ssl_.async_read_some(buf, token);
  co_return co_await ssl_.next_layer().async_read_some(buf, token);
}

awaitable<std::tuple<error_code, std::size_t>> Stream::write(std::span<const Bytes> segments) {
  gather_.clear();
  for (auto s : segments) gather_.emplace_back(s.data(), s.size());
  if (tls_) co_return co_await asio::async_write(ssl_, gather_, use_nothrow);
  co_return co_await asio::async_write(ssl_.next_layer(), gather_, use_nothrow);
}

awaitable<std::tuple<error_code, std::size_t>> Stream::write(Bytes bytes) {
  Bytes one[1] = {bytes};
  co_return co_await write(std::span<const Bytes>(one));
}

awaitable<error_code> Stream::handshake(bool server) {
  auto [ec] = co_await ssl_.async_handshake(
      server ? ssl::stream_base::server : ssl::stream_base::client, use_nothrow);
  if (!ec) tls_ = true;
  co_return ec;
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
