// Sockets for the bench relays (relay_floor, relay_hooked): loopback addresses, the listener,
// and a client with its own upstream connection. Benchmark tools, not part of the product.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace relay_bench {

inline sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A non-blocking listener on 127.0.0.1:`port`, or -1.
inline int listen_loopback(int port) {
  const sockaddr_in at = loopback(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0 || listen(fd, 512) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// An epoll set holding the listener `lfd`, level-triggered, with a null data pointer.
inline int epoll_with_listener(int lfd) {
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  return ep;
}

// Accepts the next waiting client and connects its own upstream (blocking connect, then
// non-blocking): {client, upstream}, or {-1, -1} when nobody is waiting. A client whose
// upstream cannot be reached is closed and skipped.
inline std::pair<int, int> accept_with_upstream(int lfd, const sockaddr_in& upstream) {
  for (;;) {
    int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
    if (cfd < 0) return {-1, -1};
    int ufd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(ufd, reinterpret_cast<const sockaddr*>(&upstream), sizeof upstream) != 0) {
      close(ufd);
      close(cfd);
      continue;
    }
    int flags = 1;
    ioctl(ufd, FIONBIO, &flags);
    no_delay(cfd);
    no_delay(ufd);
    return {cfd, ufd};
  }
}

}  // namespace relay_bench
