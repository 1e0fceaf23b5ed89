// ReadySet: a worker's own epoll set for the sockets of relaying sessions.
//
// Asio's reactor costs a relayed statement about 2 µs of user time and 1 µs of system time
// more than a bare epoll loop (bench/RESULTS.md, relay_hooked: the same PgRelay and hook
// driven both ways): an operation per read, its completion through the scheduler, the
// coroutine resumed, and a speculative read that fails before each wait. A session in steady
// relay has nothing for Asio to do but tell it "readable". So each worker keeps this set:
// sessions add their plain-TCP sockets, edge-triggered, and get a direct call when one becomes
// readable. Asio watches the set's epoll descriptor as one descriptor, so timers, TLS
// sessions, start-ups and everything else stay on the io_context as before, and busy polling
// (run_worker) covers the set too.
//
// Asio watches it through one reactor operation that stays queued for as long as the set has
// watchers: each edge on the set's descriptor runs the operation's perform step, which reads
// the set and calls the watchers, and the step says "not done", so the operation waits for the
// next edge. An `async_wait` per wake-up would cost an `epoll_ctl` to re-arm (Asio re-arms any
// wait that may not speculate), a completion and a handler; a wake-up now costs the two
// `epoll_wait`s (Asio's and the set's) and the scheduler's pass over the descriptor. Watchers
// are called inside that pass, so they must not run the io_context themselves. It uses
// Asio's reactor interface (asio::detail, Boost 1.81 as Debian 12 ships it), the way Asio's
// own descriptor services do.
//
// Edge-triggered means: a watcher is told once per arrival of data, so it must read until a
// read comes back short (the socket is then empty, and the next arrival is a new edge), or
// remember that it still has to. A watcher that was not listening when told (its session was
// busy elsewhere) must read once before relying on the next edge.
//
// One per io_context (an Asio service), used from that io_context's single thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "net/asio.h"

namespace sluice::net {

class ReadySet final : public asio::execution_context::service {
 public:
  using key_type = ReadySet;
  static inline asio::execution_context::id id;

  class Watcher {
   public:
    // The socket it was added with became readable. `hangup`: the peer also closed or reset
    // (EPOLLRDHUP, EPOLLHUP, EPOLLERR); the end of the stream may sit behind the data, with
    // no further edge to come, so read until a read says which.
    virtual void on_ready(bool hangup) = 0;

   protected:
    ~Watcher() = default;
  };

  // `context` must be an io_context (of() makes sure).
  explicit ReadySet(asio::execution_context& context);
  ~ReadySet() override;

  // The set of the io_context that runs `executor`; null if it is not an io_context's.
  static ReadySet* of(const asio::any_io_executor& executor);

  // Starts telling `w` when `fd` becomes readable. False if the kernel refused (the caller
  // then keeps using Asio for this socket).
  bool add(int fd, Watcher* w);
  // Stops; `w` is not called again, not even for an event already taken from the kernel.
  void remove(int fd, Watcher* w);

 private:
  struct Watch;  // the reactor operation, and the set's registration with Asio's reactor

  // How many rounds of events one turn dispatches before it lets the io_context's other work
  // run (a posted turn takes the rest).
  static constexpr int kRoundsPerTurn = 4;

  void shutdown() override;
  void arm();
  void on_disarmed();  // the operation came back (cancelled): idle again
  void on_edge();      // the set's descriptor became readable, or a posted turn runs
  void idle_check();   // no watchers left: let the operation go, so run() can return
  bool dispatch();     // true: it stopped with events possibly left

  int epoll_fd_ = -1;
  std::unique_ptr<Watch> watch_;
  bool armed_ = false;        // the operation is queued in the reactor, or coming back
  bool posted_ = false;       // a turn is posted
  bool idle_posted_ = false;  // an idle_check is posted
  bool shut_down_ = false;    // the io_context is being destroyed
  std::size_t watchers_ = 0;
  // The events being dispatched; remove() clears the entries of a watcher removed meanwhile.
  struct Event {
    Watcher* watcher;
    bool hangup;
  };
  std::vector<Event> batch_;
  std::size_t batch_next_ = 0;
};

}  // namespace sluice::net
