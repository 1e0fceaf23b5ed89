// ReadyWatch: a direct call, from inside Asio's reactor, each time a socket becomes readable.
//
// Asio's reactor costs a relayed statement about 2 µs of user time and 1 µs of system time
// more than a bare epoll loop (bench/RESULTS.md, relay_hooked: the same PgRelay and hook
// driven both ways): an operation per read, its completion through the scheduler, the
// coroutine resumed, and a speculative read that fails before each wait. A session in steady
// relay needs nothing from Asio but "readable". So a relaying session's plain-TCP socket gets
// one reactor operation that stays queued on the socket's own registration in Asio's epoll
// set for as long as the session relays: each edge runs the operation's perform step, which
// calls the watcher and says "not done", so the operation waits for the next edge. There is
// no operation per read, no completion, no handler and no `epoll_ctl` to re-arm: a wake-up
// costs Asio's one `epoll_wait` and the scheduler's pass over the descriptor. Timers, TLS
// sessions, start-ups and everything else stay on the io_context as before.
//
// (Before, each worker kept its own epoll set of these sockets, which Asio watched as one
// descriptor: every arrival then cost a second `epoll_wait`, the nested set's wake-up, and a
// needless wake-up of the socket's own registration in Asio's set. bench/RESULTS.md, tenth
// session.)
//
// Rules, all for the watcher:
// - Edge-triggered: it is told once per arrival, so it must read until a read comes back
//   short (the socket is then empty, and the next arrival is a new edge), or remember that it
//   still has to. One that was not listening when told must read once before relying on the
//   next edge. It may also be told when nothing new arrived (an edge of the socket's writing
//   side while unread data sits in it).
// - While a socket is watched it must not be read through Asio: the watch stays at the head
//   of the socket's read queue, and an Asio read would wait behind it for ever. Writes
//   through Asio are fine.
// - The call runs inside the reactor's pass over the socket: it must not close the socket or
//   run the io_context. It may stop this or any other watch, cancel any socket (which ends
//   that socket's watch; see below), write, post and cancel timers.
// - A `cancel()` or `close()` of the socket ends the watch. If the watcher had not stopped it,
//   it is told once more, with `hangup`, so that it reads and finds out.
// - The io_context must not lock its descriptors (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO, as the
//   gateway's workers, one thread each, run theirs): stopping or cancelling from inside a
//   call would take the lock the reactor's pass holds. start() refuses otherwise.
//
// This uses Asio's reactor interface (asio::detail, Boost 1.81 as Debian 12 ships it), the way
// Asio's own socket services do, plus two fields of its descriptor state that Asio keeps to
// itself (ready_watch.cc says which, why and how); a Boost with another reactor or layout
// fails to compile.
//
// Used from the socket's io_context thread only.
#pragma once

#include "net/asio.h"

namespace sluice::net {

class ReadyWatch {
 public:
  class Watcher {
   public:
    // The socket became readable. `hangup`: the peer also closed or reset (EPOLLRDHUP,
    // EPOLLHUP, EPOLLERR); the end of the stream may sit behind the data, with no further edge
    // to come, so read until a read says which.
    virtual void on_ready(bool hangup) = 0;

   protected:
    ~Watcher() = default;
  };

  ReadyWatch() = default;
  ~ReadyWatch() { stop(); }
  ReadyWatch(const ReadyWatch&) = delete;
  ReadyWatch& operator=(const ReadyWatch&) = delete;

  // Starts telling `w` each time `socket` becomes readable (also if it already is). The socket
  // must be open, with no Asio read pending on it. False if it cannot be watched (closed, or its
  // io_context locks its descriptors); the caller then reads through Asio.
  bool start(asio::ip::tcp::socket& socket, Watcher* w);
  // Stops: the watcher is not told again, even if its edge was in the same epoll_wait. A
  // no-op if the watch is not running.
  void stop();
  // False once stopped, and as soon as a cancel or close of the socket has ended the watch
  // (before the watcher is told).
  bool running() const;

 private:
  struct Op;  // the reactor operation; it outlives the watch until Asio gives it back
  Op* op_ = nullptr;
  Watcher* watcher_ = nullptr;
};

}  // namespace sluice::net
