// ReadyWatch: a reactor operation that stays queued on a socket and calls its watcher on each
// edge. The io_contexts here are the gateway's kind: one thread, descriptors not locked.
#include "net/ready_watch.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sluice::net {
namespace {

using asio::ip::tcp;

// A connected pair of loopback TCP sockets: `near` is watched, `far` writes to it.
struct Pair {
  tcp::socket near, far;
  Pair(asio::io_context& io, tcp::acceptor& acceptor) : near(io), far(io) {
    far.connect(acceptor.local_endpoint());
    acceptor.accept(near);
    near.non_blocking(true);
  }
  void send(const std::string& s) { ASSERT_EQ(asio::write(far, asio::buffer(s)), s.size()); }
  std::string drain() {
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = recv(near.native_handle(), buf, sizeof buf, MSG_DONTWAIT)) > 0)
      got.append(buf, static_cast<std::size_t>(n));
    return got;
  }
};

struct Recorder final : ReadyWatch::Watcher {
  std::function<void()> then;
  int calls = 0;
  bool hangup = false;
  void on_ready(bool hup) override {
    ++calls;
    hangup |= hup;
    if (then) then();
  }
};

class ReadyWatchTest : public ::testing::Test {
 protected:
  // Runs `io` until `done` or a second passes. (An io_context that ran out of work is
  // stopped, and runs nothing more until restarted.)
  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(20));
    }
  }
  // Runs `io` until it has no work left; false if it still had some after a second.
  bool runs_dry() {
    io.restart();
    auto start = std::chrono::steady_clock::now();
    io.run_for(std::chrono::seconds(2));
    return std::chrono::steady_clock::now() - start < std::chrono::seconds(1);
  }
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
};

TEST_F(ReadyWatchTest, TellsAWatcherOncePerArrival) {
  Pair p(io, acceptor);
  Recorder r;
  std::string got;
  r.then = [&] { got += p.drain(); };
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  p.send("one");
  run_until([&] { return got == "one"; });
  EXPECT_EQ(got, "one");
  EXPECT_EQ(r.calls, 1);
  p.send("two");
  run_until([&] { return got == "onetwo"; });
  EXPECT_EQ(got, "onetwo");
  EXPECT_EQ(r.calls, 2);
  EXPECT_FALSE(r.hangup);
}

TEST_F(ReadyWatchTest, ASocketAlreadyReadableIsTold) {
  // Bytes that came before the watch started had their edge before it: starting must still
  // report them.
  Pair p(io, acceptor);
  Recorder r;
  p.send("early");
  io.poll();  // nothing is watching yet
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(p.drain(), "early");
}

TEST_F(ReadyWatchTest, EdgeTriggeredBytesLeftUnreadAreNotToldAgain) {
  // The contract watchers rely on: nothing new, no call, even with bytes waiting.
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  p.send("unread");
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
  io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.calls, 1);
  p.send("more");
  run_until([&] { return r.calls == 2; });
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(p.drain(), "unreadmore");
}

TEST_F(ReadyWatchTest, AHangUpBehindTheDataIsSaid) {
  // Data and the peer's close in one edge: a watcher that stopped at a short read would never
  // hear of the close, so the call says so. Asio does not register for EPOLLRDHUP; the watch
  // adds it, and reads what the reactor reported.
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  p.send("last words");
  p.far.shutdown(tcp::socket::shutdown_send);
  run_until([&] { return r.calls >= 1; });
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.hangup);
  EXPECT_EQ(p.drain(), "last words");
}

TEST_F(ReadyWatchTest, AWatchStoppedDuringTheSamePassIsNotCalled) {
  Pair a(io, acceptor), b(io, acceptor);
  Recorder ra, rb;
  ReadyWatch wa, wb;
  // Whichever runs first stops the other, whose edge came from the same epoll_wait.
  ra.then = [&] { wb.stop(); };
  rb.then = [&] { wa.stop(); };
  ASSERT_TRUE(wa.start(a.near, &ra));
  ASSERT_TRUE(wb.start(b.near, &rb));
  a.send("x");
  b.send("y");
  run_until([&] { return ra.calls + rb.calls >= 1; });
  io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ra.calls + rb.calls, 1);
  EXPECT_NE(wa.running(), wb.running());
}

TEST_F(ReadyWatchTest, HoldsNoWorkOnceStoppedSoRunCanReturn) {
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  w.stop();
  EXPECT_FALSE(w.running());
  acceptor.close();
  EXPECT_TRUE(runs_dry());
  // And the socket can be watched again afterwards.
  ASSERT_TRUE(w.start(p.near, &r));
  p.send("z");
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
}

TEST_F(ReadyWatchTest, AWatchCanStopFromItsOwnCall) {
  // A session that ends while relaying stops its watches from inside on_ready, which runs
  // inside the reactor's pass over the socket: the operation leaves the queue there, and the
  // pass must not touch it again.
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  r.then = [&] { w.stop(); };
  ASSERT_TRUE(w.start(p.near, &r));
  p.send("bye");
  run_until([&] { return r.calls == 1; });
  ASSERT_EQ(r.calls, 1);
  EXPECT_FALSE(w.running());
  acceptor.close();
  EXPECT_TRUE(runs_dry());  // the operation has gone
  // Told nothing after it stopped, and the socket can be read through Asio again.
  p.send("again");
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.calls, 1);
  char buf[16];
  error_code ec;
  std::size_t n = 0;
  p.near.async_read_some(asio::buffer(buf), [&](error_code e, std::size_t k) {
    ec = e;
    n = k;
  });
  io.restart();
  run_until([&] { return n > 0 || ec; });
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(buf, n), "byeagain");
}

TEST_F(ReadyWatchTest, CancellingTheSocketEndsTheWatchAndTellsTheWatcher) {
  // The session's end() cancels the upstream socket from inside a watcher's call, and
  // anything may cancel a socket outside one: either way the watch ends, and a watcher that
  // did not stop it is told once more, with hangup, so that it reads and finds out.
  Pair p(io, acceptor), q(io, acceptor);
  Recorder r;
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  p.near.cancel();
  EXPECT_FALSE(w.running());  // at once: a read through Asio may follow before the call
  EXPECT_EQ(r.calls, 0);
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.hangup);
  EXPECT_FALSE(w.running());
  p.send("later");
  io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.calls, 1);

  // From inside the watcher's own call.
  Recorder s;
  ReadyWatch v;
  s.then = [&] {
    if (s.calls == 1) q.near.cancel();
  };
  ASSERT_TRUE(v.start(q.near, &s));
  q.send("x");
  run_until([&] { return s.calls == 2; });
  EXPECT_EQ(s.calls, 2);
  EXPECT_FALSE(v.running());
  acceptor.close();
  EXPECT_TRUE(runs_dry());
}

TEST_F(ReadyWatchTest, AsioWritesOnAWatchedSocketStillComplete) {
  // The relay writes through Asio what a socket did not take at once, on a socket that is
  // watched: the write queue must not be held up by the watch, nor the watch by the write.
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  ASSERT_TRUE(w.start(p.near, &r));
  std::string big(8 << 20, 'x');  // more than the socket buffers hold
  bool written = false;
  asio::async_write(p.near, asio::buffer(big), [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, big.size());
    written = true;
  });
  std::size_t got = 0;
  std::vector<char> buf(1 << 16);
  p.far.non_blocking(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!written && std::chrono::steady_clock::now() < deadline) {
    io.poll();
    error_code ec;
    got += p.far.read_some(asio::buffer(buf), ec);
  }
  EXPECT_TRUE(written);
  EXPECT_TRUE(w.running());
  int before = r.calls;
  p.send("still watched");
  run_until([&] { return r.calls > before; });
  EXPECT_GT(r.calls, before);
  EXPECT_EQ(p.drain(), "still watched");
}

TEST_F(ReadyWatchTest, ManyReadyAtOnceAreAllTold) {
  // More than one epoll_wait's worth for Asio (128 events).
  constexpr int kPairs = 300;
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<Recorder> recorders(kPairs);
  std::vector<ReadyWatch> watches(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<Pair>(io, acceptor));
    ASSERT_TRUE(watches[i].start(pairs.back()->near, &recorders[i]));
  }
  for (auto& p : pairs) p->send("!");
  auto told = [&] {
    int n = 0;
    for (auto& r : recorders) n += r.calls;
    return n;
  };
  run_until([&] { return told() == kPairs; });
  EXPECT_EQ(told(), kPairs);
}

TEST(ReadyWatchLocking, StartSaysNoWhereTheIoContextLocksItsDescriptors) {
  // Stopping a watch from inside a call would take the lock the reactor's pass holds.
  asio::io_context io;  // the default locks
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  Pair p(io, acceptor);
  Recorder r;
  ReadyWatch w;
  EXPECT_FALSE(w.start(p.near, &r));
  EXPECT_FALSE(w.running());
}

TEST(ReadyWatchShutdown, AnIoContextDestroyedWithAWatchRunningLetsItGo) {
  // At the gateway's shutdown, sessions (and their watches and sockets) are destroyed with
  // the io_context's pending handlers, after Asio has taken the watch's operation back.
  // Under ASan a use after free here fails the test.
  Recorder r;
  auto io = std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  auto acceptor =
      std::make_unique<tcp::acceptor>(*io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  struct Held {
    Pair pair;
    ReadyWatch watch;
    asio::steady_timer timer;
    Held(asio::io_context& io, tcp::acceptor& a) : pair(io, a), timer(io) {}
  };
  auto held = std::make_shared<Held>(*io, *acceptor);
  ASSERT_TRUE(held->watch.start(held->pair.near, &r));
  held->timer.expires_after(std::chrono::hours(1));
  held->timer.async_wait([keep = held](error_code) {});
  std::weak_ptr<Held> gone = held;
  held.reset();
  acceptor.reset();
  io->poll();
  io.reset();
  EXPECT_TRUE(gone.expired());
  EXPECT_EQ(r.calls, 0);
}

}  // namespace
}  // namespace sluice::net
