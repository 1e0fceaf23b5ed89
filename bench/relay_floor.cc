// relay_floor: the least a TCP proxy can do. One thread, one level-triggered epoll loop, and
// for each client its own upstream connection; bytes are copied both ways and nothing is
// parsed. bench/pgbench.sh runs it beside pgbouncer and Sluice (FLOOR=build/relay_floor) to
// show what any proxy pays on this machine before doing work of its own: an extra hop, its
// system calls and wake-ups. A benchmark tool, not part of the product: a slow reader blocks
// the loop (a send that would block waits for room).
//
// usage: relay_floor LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "relay_sockets.h"

namespace {

// One direction's end: reading `fd` and writing to `peer->fd`.
struct Side {
  int fd;
  Side* peer;
};

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
    } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd w{fd, POLLOUT, 0};
      poll(&w, 1, 1000);
    } else {
      return false;
    }
  }
  return true;
}

// Marks an event whose pair was closed earlier in the same batch.
Side stale{-1, nullptr};

// Closes both connections of `s`'s pair, and marks the batch's later events for them stale.
void close_pair(int ep, Side* s, epoll_event* later, int count) {
  Side* peer = s->peer;
  for (int j = 0; j < count; ++j)
    if (later[j].data.ptr == s || later[j].data.ptr == peer) later[j].data.ptr = &stale;
  epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, nullptr);
  epoll_ctl(ep, EPOLL_CTL_DEL, peer->fd, nullptr);
  close(s->fd);
  close(peer->fd);
  delete[](s < peer ? s : peer);  // the two sides were allocated together
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: relay_floor LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  const sockaddr_in upstream = relay_bench::loopback(std::atoi(argv[2]));
  int lfd = relay_bench::listen_loopback(std::atoi(argv[1]));
  if (lfd < 0) {
    std::perror("relay_floor: listen");
    return 1;
  }
  int ep = relay_bench::epoll_with_listener(lfd);  // the listener's events carry nullptr
  std::printf("relay_floor listening on 127.0.0.1:%s\n", argv[1]);
  std::fflush(stdout);

  static char buf[65536];
  epoll_event events[128];
  for (;;) {
    int n = epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Side*>(events[i].data.ptr);
      if (s == nullptr) {
        for (;;) {
          auto [cfd, ufd] = relay_bench::accept_with_upstream(lfd, upstream);
          if (cfd < 0) break;
          Side* pair = new Side[2];
          pair[0] = {cfd, &pair[1]};
          pair[1] = {ufd, &pair[0]};
          for (Side* side : {&pair[0], &pair[1]}) {
            epoll_event e{};
            e.events = EPOLLIN;
            e.data.ptr = side;
            epoll_ctl(ep, EPOLL_CTL_ADD, side->fd, &e);
          }
        }
        continue;
      }
      if (s == &stale) continue;
      ssize_t k = recv(s->fd, buf, sizeof buf, 0);
      bool ok = k > 0 ? send_all(s->peer->fd, buf, static_cast<std::size_t>(k))
                      : (k < 0 && (errno == EAGAIN || errno == EINTR));
      if (!ok) close_pair(ep, s, events + i + 1, n - i - 1);
    }
  }
}
