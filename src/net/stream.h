// Stream: one TCP connection that may have been upgraded to TLS.
//
// PostgreSQL negotiates TLS in-band (SSLRequest), so a connection starts plain and may switch;
// Stream hides which it is from the relay. Reads can be cancelled on their own (a session
// ending stops reading at once but lets a write in progress finish on a message boundary).
// Used from one strand (the session's thread) only.
#pragma once

#include <span>
#include <vector>

#include "core/bytes.h"
#include "net/asio.h"

namespace sluice::net {

class Stream {
 public:
  Stream(tcp::socket socket, ssl::context& tls) : ssl_(std::move(socket), tls) {}

  tcp::socket& socket() { return ssl_.next_layer(); }
  ssl::stream<tcp::socket>& tls_stream() { return ssl_; }
  bool tls() const { return tls_; }

  awaitable<std::tuple<error_code, std::size_t>> read_some(std::span<std::uint8_t> into);
  awaitable<std::tuple<error_code, std::size_t>> write(std::span<const Bytes> segments);
  awaitable<std::tuple<error_code, std::size_t>> write(Bytes bytes);

  // Switches to TLS; `server` chooses the side.
  awaitable<error_code> handshake(bool server);

  void cancel_read() { read_cancel_.emit(asio::cancellation_type::terminal); }
  void close();

 private:
  ssl::stream<tcp::socket> ssl_;
  bool tls_ = false;
  asio::cancellation_signal read_cancel_;
  std::vector<asio::const_buffer> gather_;
};

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
bool is_loopback(const asio::ip::address& a);

}  // namespace sluice::net
