// Stream: one TCP connection that may have been upgraded to TLS.
//
// PostgreSQL negotiates TLS in-band (SSLRequest), so a connection starts plain and may switch;
// Stream hides which it is from the relay. Used from one thread (the session's) only.
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

  // Initiating functions (no coroutine frame of their own): `co_await s.read_some(buf)`
  // yields (error_code, bytes).
  auto read_some(std::span<std::uint8_t> into) {
    auto buf = asio::buffer(into.data(), into.size());
    return asio::async_initiate<decltype(use_nothrow), void(error_code, std::size_t)>(
        [this, buf](auto handler) {
          if (tls_) {
            ssl_.async_read_some(buf, std::move(handler));
          } else {
            ssl_.next_layer().async_read_some(buf, std::move(handler));
          }
        },
        use_nothrow);
  }
  // Writes as much of `segments` as the socket takes now, in one gathered send, without
  // suspending: returns the bytes written. 0 with `ec` clear means "would block", and always
  // on TLS. A relay that writes right after reading usually finds the socket writable; this
  // saves the completion's round trip through the scheduler (and the reactor poll that
  // comes with it). The caller writes the rest with write(segments, n).
  std::size_t write_now(std::span<const Bytes> segments, error_code& ec);
  // Writes every segment, after skipping the first `skip` bytes; one gathered write. The
  // segments must stay valid until it completes.
  auto write(std::span<const Bytes> segments, std::size_t skip = 0) {
    gather(segments, skip);
    return asio::async_initiate<decltype(use_nothrow), void(error_code, std::size_t)>(
        [this](auto handler) {
          if (tls_) {
            asio::async_write(ssl_, gather_, std::move(handler));
          } else {
            asio::async_write(ssl_.next_layer(), gather_, std::move(handler));
          }
        },
        use_nothrow);
  }
  auto write(Bytes bytes) {
    one_[0] = bytes;
    return write(std::span<const Bytes>(one_));
  }

  // Switches to TLS; `server` chooses the side.
  awaitable<error_code> handshake(bool server);

  // Cancels every operation in progress (reads and writes). Used when a session ends; a
  // write cut short leaves the stream mid-message, which the caller must account for.
  void cancel() {
    error_code ignored;
    ssl_.next_layer().cancel(ignored);
  }
  void close();

 private:
  // Fills gather_ with the segments' bytes after the first `skip`.
  void gather(std::span<const Bytes> segments, std::size_t skip) {
    gather_.clear();
    for (auto s : segments) {
      if (skip >= s.size()) {
        skip -= s.size();
        continue;
      }
      gather_.emplace_back(s.data() + skip, s.size() - skip);
      skip = 0;
    }
  }

  ssl::stream<tcp::socket> ssl_;
  bool tls_ = false;
  bool non_blocking_ = false;  // set on the socket for write_now (async operations ignore it)
  std::vector<asio::const_buffer> gather_;
  Bytes one_[1];
};

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
bool is_loopback(const asio::ip::address& a);

}  // namespace sluice::net
