// relay_hooked: relay_floor's bare epoll loop with Sluice's own per-statement work in it.
//
// The question it answers: how close would Sluice come to pgbouncer if its I/O layer were as
// lean as relay_floor's? Each client gets its own upstream connection, as in relay_floor.
// The start-up and authentication bytes pass through untouched (the client authenticates to
// PostgreSQL itself, with the database's password); from the server's first ReadyForQuery on,
// every byte goes through the gateway's PgRelay with the gateway's hook pipeline (analysis,
// literal shapes, policy), exactly as a session of `sluice serve` does after its own start-up.
// What it leaves out: TLS, tokens, timers, the supervisor, holds and barriers (a session
// that needs one is closed), audit, cancel requests.
//
// RELAY_ASIO=1 drives the same sessions from an Asio io_context instead of its own epoll loop:
// each socket waits for readability with `async_wait` and a plain callback (no coroutine, no
// speculative read), to tell what Asio's reactor costs from what its coroutines cost.
//
// A benchmark tool, not part of the product: a slow reader blocks the loop.
//
// usage: relay_hooked LISTEN_PORT UPSTREAM_PORT
//   upstream: database bench, user bench, password from BENCH_PASSWORD (bench/pgbench.sh's);
//   POLICY=1 loads the agent-baseline rules, as bench/pgbench.sh's POLICY=1 does for Sluice.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "hook/session_info.h"
#include "hook/statement_stage.h"
#include "net/asio.h"
#include "net/tls.h"
#include "policy/policy_stage.h"
#include "relay_sockets.h"
#include "session/input_buffer.h"
#include "session/pg/catalog_loader.h"
#include "session/pg/relay.h"
#include "sql/connection_analyzer.h"

namespace {

using sluice::Bytes;
using sluice::session::InputBuffer;
using sluice::session::pg::OutputBuffer;
using sluice::session::pg::PgRelay;

constexpr std::uint32_t kSslRequest = 80877103;
constexpr std::uint32_t kGssEncRequest = 80877104;

struct Pair;
// One end of a pair: the client's connection or the server's.
struct Side {
  int fd;
  Pair* pair;
  bool client;
};

struct Pair {
  Side client{-1, this, true};
  Side server{-1, this, false};
  InputBuffer client_in{8192, 1 << 26};
  InputBuffer server_in{8192, 1 << 26};
  sluice::hook::SessionInfo info;
  std::unique_ptr<PgRelay> relay;   // from the server's first ReadyForQuery on
  bool first_packet = true;         // the client's first packet may ask for TLS
  bool tls_answer_pending = false;  // the server's next byte answers it, unframed
};

// Writes every segment, in one gathered send when the socket takes it all.
bool send_segments(int fd, const std::vector<Bytes>& segments) {
  std::array<iovec, 64> iov{};
  std::size_t i = 0;
  std::size_t skip = 0;  // bytes of segments[i] already sent
  while (i < segments.size()) {
    std::size_t n = 0;
    for (std::size_t j = i; j < segments.size() && n < iov.size(); ++j, ++n) {
      std::size_t off = j == i ? skip : 0;
      iov[n] = {const_cast<std::uint8_t*>(segments[j].data()) + off, segments[j].size() - off};
    }
    msghdr m{};
    m.msg_iov = iov.data();
    m.msg_iovlen = n;
    ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno != EAGAIN && errno != EINTR) return false;
      pollfd w{fd, POLLOUT, 0};
      poll(&w, 1, 1000);
      continue;
    }
    auto left = static_cast<std::size_t>(k);
    while (i < segments.size() && left >= segments[i].size() - skip) {
      left -= segments[i].size() - skip;
      skip = 0;
      ++i;
    }
    skip += left;
  }
  return true;
}

bool send_bytes(int fd, Bytes b) {
  return send_segments(fd, {b});
}

// Accepts the next waiting client and connects its own upstream: the new pair, or null when
// nobody is waiting.
Pair* accept_pair(int lfd, const sockaddr_in& upstream) {
  auto [cfd, ufd] = relay_bench::accept_with_upstream(lfd, upstream);
  if (cfd < 0) return nullptr;
  auto* p = new Pair;
  p->client.fd = cfd;
  p->server.fd = ufd;
  return p;
}

// Adds both sides of `p` to `ep` with `events`.
void watch_pair(int ep, Pair* p, std::uint32_t events) {
  for (Side* side : {&p->client, &p->server}) {
    epoll_event e{};
    e.events = events;
    e.data.ptr = side;
    epoll_ctl(ep, EPOLL_CTL_ADD, side->fd, &e);
  }
}

class Relay {
 public:
  Relay(std::shared_ptr<sluice::hook::StatementPipeline> pipeline, std::string connection)
      : pipeline_(std::move(pipeline)), connection_(std::move(connection)) {}

  // Handles the bytes that `s` can give; false when the pair must close.
  // With `drain` (edge-triggered readiness), reads again while a read filled the room.
  bool on_readable(Side& s, bool drain = false) {
    Pair& p = *s.pair;
    InputBuffer& in = s.client ? p.client_in : p.server_in;
    for (;;) {
      if (!in.reserve(in.size() + 1)) return false;
      auto room = in.free_space();
      ssize_t k = recv(s.fd, room.data(), room.size(), MSG_DONTWAIT);
      if (k < 0) return errno == EAGAIN || errno == EINTR;
      if (k == 0) return false;
      in.commit(static_cast<std::size_t>(k));
      bool ok = !p.relay ? (s.client ? start_client(p) : start_server(p))
                         : (s.client ? client_bytes(p) : server_bytes(p));
      if (!ok || !drain || static_cast<std::size_t>(k) < room.size()) return ok;
    }
  }

 private:
  // Before the server's first ReadyForQuery: pass the client's bytes through as they are.
  bool start_client(Pair& p) {
    Bytes in = p.client_in.data();
    if (p.first_packet && in.size() >= 8) {
      std::uint32_t code = sluice::load_be32(in.data() + 4);
      p.tls_answer_pending = code == kSslRequest || code == kGssEncRequest;
      p.first_packet = false;
    }
    bool ok = send_bytes(p.server.fd, in);
    p.client_in.consume(in.size());
    return ok;
  }

  // Passes the server's start-up messages through, and hands the rest of the session to a
  // PgRelay at the first ReadyForQuery.
  bool start_server(Pair& p) {
    Bytes in = p.server_in.data();
    std::size_t pos = 0;
    if (p.tls_answer_pending && !in.empty()) {
      if (in[0] != 'N') return false;  // this relay speaks no TLS; libpq's prefer falls back
      p.tls_answer_pending = false;
      pos = 1;
    }
    bool ready = false;
    while (!ready && in.size() - pos >= 5) {
      std::size_t len = 1 + sluice::load_be32(in.data() + pos + 1);
      if (in.size() - pos < len) break;
      ready = in[pos] == 'Z';
      pos += len;
    }
    bool ok = send_bytes(p.client.fd, in.first(pos));
    p.server_in.consume(pos);
    if (ready && ok) {
      sluice::session::pg::RelayLimits limits;
      p.info.session_id = "bench-" + std::to_string(++sessions_);
      p.info.identity = "bench";
      p.info.connection = connection_;
      p.info.scope.access = sluice::hook::GrantScope::Access::write;
      p.info.grant_expires_at_ms = INT64_MAX;
      pipeline_->session_started(p.info);
      p.relay = std::make_unique<PgRelay>(p.info, *pipeline_, limits);
      if (!p.client_in.empty()) ok = client_bytes(p);
    }
    return ok;
  }

  bool client_bytes(Pair& p) {
    auto step = p.relay->on_client_bytes(p.client_in.data());
    OutputBuffer& out = p.relay->upstream_output();
    bool ok = out.empty() || send_segments(p.server.fd, out.segments());
    out.clear();
    p.client_in.consume(step.consumed);
    using Next = PgRelay::ClientNext;
    if (step.next == Next::hold || step.next == Next::barrier) {
      std::fprintf(stderr, "relay_hooked: a statement needs a hold or a barrier; closing\n");
      return false;
    }
    return ok && step.next == Next::need_more;
  }

  bool server_bytes(Pair& p) {
    auto step = p.relay->on_server_bytes(p.server_in.data());
    OutputBuffer& out = p.relay->client_output();
    bool ok = out.empty() || send_segments(p.client.fd, out.segments());
    out.clear();
    p.server_in.consume(step.consumed);
    return ok && !step.fatal;
  }

  std::shared_ptr<sluice::hook::StatementPipeline> pipeline_;
  std::string connection_;
  std::uint64_t sessions_ = 0;
};

// The gateway's pipeline for one connection: its analyzer with the catalog read now, and the
// policy stage, as Gateway::start builds them.
std::shared_ptr<sluice::hook::StatementPipeline> make_pipeline(int upstream_port,
                                                               sluice::config::Config& cfg) {
  std::string yaml =
      "data_dir: /nonexistent-relay-hooked\n"
      "listen: { postgres: 127.0.0.1:1 }\n"
      "connections:\n"
      "  - name: bench\n"
      "    upstream: { host: 127.0.0.1, port: " +
      std::to_string(upstream_port) +
      ", database: bench, user: bench,\n"
      "                password: \"${env:BENCH_PASSWORD}\", tls: disable }\n"
      "audit: { enabled: false }\n";
  if (const char* policy = std::getenv("POLICY"); policy && std::string(policy) == "1")
    yaml += "rules:\n  - include: agent-baseline\n";
  auto parsed = sluice::config::parse_config(yaml, "relay_hooked.yaml");
  if (!parsed) {
    std::fprintf(stderr, "relay_hooked: %s\n", parsed.status().message().c_str());
    std::exit(1);
  }
  cfg = std::move(*parsed);
  const auto& c = cfg.connections.front();
  auto tls = sluice::net::make_client_tls(c.postgres.tls, c.postgres.ca_file);
  if (!tls) {
    std::fprintf(stderr, "relay_hooked: %s\n", tls.status().message().c_str());
    std::exit(1);
  }
  auto analyzer = std::make_shared<sluice::sql::ConnectionAnalyzer>(
      std::make_shared<sluice::sql::OfflineCatalog>(c.postgres.search_path));
  auto catalog = sluice::session::pg::load_catalog_blocking(c, **tls, 1, std::chrono::seconds(10));
  if (!catalog) {
    std::fprintf(stderr, "relay_hooked: cannot read the catalog: %s\n",
                 catalog.status().message().c_str());
    std::exit(1);
  }
  analyzer->set_catalog(*catalog);
  std::map<std::string, std::shared_ptr<sluice::sql::ConnectionAnalyzer>> analyzers{
      {c.name, analyzer}};
  auto pipeline = std::make_shared<sluice::hook::StatementPipeline>();
  pipeline->add(std::make_shared<sluice::policy::PolicyStage>(cfg.policy, analyzers));
  return pipeline;
}

void close_pair(int ep, Pair* p, epoll_event* later, int count, Side* stale) {
  for (int j = 0; j < count; ++j)
    if (later[j].data.ptr == &p->client || later[j].data.ptr == &p->server)
      later[j].data.ptr = stale;
  for (Side* s : {&p->client, &p->server}) {
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, nullptr);
    close(s->fd);
  }
  delete p;
}

// The Asio-driven loop: the same Relay, each side re-arming an async_wait after each read.
struct AsioSide {
  Side* side;
  sluice::net::tcp::socket socket;
};
struct AsioPair {
  Pair* pair;
  std::unique_ptr<AsioSide> client, server;
  bool closed = false;
};

void arm(Relay& relay, std::shared_ptr<AsioPair> ap, AsioSide& as) {
  as.socket.async_wait(sluice::net::tcp::socket::wait_read,
                       [&relay, ap, &as](sluice::net::error_code ec) {
                         if (ap->closed) return;
                         if (!ec && relay.on_readable(*as.side)) {
                           arm(relay, ap, as);
                           return;
                         }
                         ap->closed = true;
                         sluice::net::error_code ignored;
                         ap->client->socket.close(ignored);
                         ap->server->socket.close(ignored);
                         delete ap->pair;
                       });
}

// RELAY_ASIO=2: the product's shape with a lean loop. The sockets are registered with Asio's
// reactor (as a session's sockets are, for the slow paths) but never waited on through it;
// readiness comes from a private edge-triggered epoll set that Asio watches as one descriptor.
int run_nested(Relay& relay, int lfd, const sockaddr_in& upstream) {
  namespace asio = sluice::net::asio;
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  int ep = relay_bench::epoll_with_listener(lfd);  // the listener's events carry nullptr
  asio::posix::stream_descriptor lean(io, ep);
  struct Held {
    sluice::net::tcp::socket client, server;
  };
  std::map<Pair*, std::unique_ptr<Held>> held;
  Side stale{-1, nullptr, false};
  std::function<void(sluice::net::error_code)> on_ready = [&](sluice::net::error_code ec) {
    if (ec) return;
    epoll_event events[128];
    int n = epoll_wait(ep, events, 128, 0);
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Side*>(events[i].data.ptr);
      if (s == nullptr) {
        while (Pair* p = accept_pair(lfd, upstream)) {
          held[p] = std::make_unique<Held>(
              Held{sluice::net::tcp::socket(io, sluice::net::tcp::v4(), p->client.fd),
                   sluice::net::tcp::socket(io, sluice::net::tcp::v4(), p->server.fd)});
          watch_pair(ep, p, EPOLLIN | EPOLLRDHUP | EPOLLET);
        }
        continue;
      }
      if (s == &stale) continue;
      if (!relay.on_readable(*s, true)) {
        Pair* p = s->pair;
        auto it = held.find(p);
        it->second->client.release();  // close_pair closes them
        it->second->server.release();
        held.erase(it);
        close_pair(ep, p, events + i + 1, n - i - 1, &stale);
      }
    }
    lean.async_wait(asio::posix::stream_descriptor::wait_read, on_ready);
  };
  lean.async_wait(asio::posix::stream_descriptor::wait_read, on_ready);
  io.run();
  return 0;
}

int run_asio(Relay& relay, int lfd, const sockaddr_in& upstream) {
  namespace asio = sluice::net::asio;
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  asio::posix::stream_descriptor listener(io, lfd);
  std::function<void(sluice::net::error_code)> on_accept = [&](sluice::net::error_code ec) {
    if (ec) return;
    while (Pair* p = accept_pair(lfd, upstream)) {
      auto ap = std::make_shared<AsioPair>();
      ap->pair = p;
      ap->client.reset(new AsioSide{
          &p->client, sluice::net::tcp::socket(io, sluice::net::tcp::v4(), p->client.fd)});
      ap->server.reset(new AsioSide{
          &p->server, sluice::net::tcp::socket(io, sluice::net::tcp::v4(), p->server.fd)});
      arm(relay, ap, *ap->client);
      arm(relay, ap, *ap->server);
    }
    listener.async_wait(asio::posix::stream_descriptor::wait_read, on_accept);
  };
  listener.async_wait(asio::posix::stream_descriptor::wait_read, on_accept);
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: relay_hooked LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  sluice::config::Config cfg;
  Relay relay(make_pipeline(std::atoi(argv[2]), cfg), "bench");
  const sockaddr_in upstream = relay_bench::loopback(std::atoi(argv[2]));
  int lfd = relay_bench::listen_loopback(std::atoi(argv[1]));
  if (lfd < 0) {
    std::perror("relay_hooked: listen");
    return 1;
  }
  if (const char* a = std::getenv("RELAY_ASIO");
      a && (std::string(a) == "1" || std::string(a) == "2")) {
    std::printf("relay_hooked (asio %s) listening on 127.0.0.1:%s\n", a, argv[1]);
    std::fflush(stdout);
    return std::string(a) == "1" ? run_asio(relay, lfd, upstream)
                                 : run_nested(relay, lfd, upstream);
  }
  int ep = relay_bench::epoll_with_listener(lfd);  // the listener's events carry nullptr
  std::printf("relay_hooked listening on 127.0.0.1:%s\n", argv[1]);
  std::fflush(stdout);

  Side stale{-1, nullptr, false};
  epoll_event events[128];
  for (;;) {
    int n = epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Side*>(events[i].data.ptr);
      if (s == nullptr) {
        while (Pair* p = accept_pair(lfd, upstream)) watch_pair(ep, p, EPOLLIN);
        continue;
      }
      if (s == &stale) continue;
      if (!relay.on_readable(*s)) close_pair(ep, s->pair, events + i + 1, n - i - 1, &stale);
    }
  }
}
