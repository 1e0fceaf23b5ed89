// ReadySet: the worker's own epoll set that relaying sessions park their sockets in.
#include "net/ready_set.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

namespace sluice::net {
namespace {

// A connected pair of stream sockets: `near` is watched, `far` writes to it.
struct Pair {
  int near = -1, far = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    near = fds[0];
    far = fds[1];
  }
  ~Pair() {
    close(near);
    close(far);
  }
  void send(const std::string& s) const {
    ASSERT_EQ(::send(far, s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
  }
  std::string drain() const {
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = recv(near, buf, sizeof buf, MSG_DONTWAIT)) > 0)
      got.append(buf, static_cast<std::size_t>(n));
    return got;
  }
};

struct Recorder final : ReadySet::Watcher {
  std::function<void()> then;
  int calls = 0;
  bool hangup = false;
  void on_ready(bool hup) override {
    ++calls;
    hangup |= hup;
    if (then) then();
  }
};

// An io_context and its set.
class ReadySetTest : public ::testing::Test {
 protected:
  // Runs `io` until `done` or a second passes.
  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      io.run_one_for(std::chrono::milliseconds(20));
  }
  asio::io_context io;
  ReadySet& set = *ReadySet::of(io.get_executor());
};

TEST_F(ReadySetTest, TellsAWatcherOncePerArrival) {
  Pair p;
  Recorder r;
  std::string got;
  r.then = [&] { got += p.drain(); };
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("one");
  run_until([&] { return got == "one"; });
  EXPECT_EQ(got, "one");
  EXPECT_EQ(r.calls, 1);
  p.send("two");
  run_until([&] { return got == "onetwo"; });
  EXPECT_EQ(got, "onetwo");
  EXPECT_EQ(r.calls, 2);
  set.remove(p.near, &r);
}

TEST_F(ReadySetTest, EdgeTriggeredBytesLeftUnreadAreNotToldAgain) {
  // The contract watchers rely on: nothing new, no call, even with bytes waiting.
  Pair p;
  Recorder r;
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("unread");
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
  io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.calls, 1);
  p.send("more");
  run_until([&] { return r.calls == 2; });
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(p.drain(), "unreadmore");
  set.remove(p.near, &r);
}

TEST_F(ReadySetTest, AHangUpBehindTheDataIsSaid) {
  // Data and the peer's close in one event: a watcher that stopped at a short read would
  // never hear of the close, so the event says so.
  Pair p;
  Recorder r;
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("last words");
  ASSERT_EQ(shutdown(p.far, SHUT_WR), 0);
  run_until([&] { return r.calls >= 1; });
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.hangup);
  EXPECT_EQ(p.drain(), "last words");
  set.remove(p.near, &r);
}

TEST_F(ReadySetTest, AWatcherRemovedDuringABatchIsNotCalled) {
  Pair a, b;
  Recorder ra, rb;
  // Whichever runs first removes the other, whose event is already in the same batch.
  ra.then = [&] { set.remove(b.near, &rb); };
  rb.then = [&] { set.remove(a.near, &ra); };
  ASSERT_TRUE(set.add(a.near, &ra));
  ASSERT_TRUE(set.add(b.near, &rb));
  a.send("x");
  b.send("y");
  run_until([&] { return ra.calls + rb.calls >= 1; });
  io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ra.calls + rb.calls, 1);
  if (ra.calls == 1) set.remove(a.near, &ra);
  if (rb.calls == 1) set.remove(b.near, &rb);
}

TEST_F(ReadySetTest, HoldsNoWorkWhenEmptySoRunCanReturn) {
  Pair p;
  Recorder r;
  ASSERT_TRUE(set.add(p.near, &r));
  set.remove(p.near, &r);
  auto start = std::chrono::steady_clock::now();
  // Returns at once: the set's operation, let go once the set is empty, was the only work.
  io.run_for(std::chrono::seconds(2));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // And it can be used again afterwards.
  io.restart();
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("z");
  run_until([&] { return r.calls == 1; });
  EXPECT_EQ(r.calls, 1);
  set.remove(p.near, &r);
}

TEST_F(ReadySetTest, TheLastWatcherCanLeaveFromItsOwnCall) {
  // A session that ends while relaying leaves the set from inside on_ready, which runs inside
  // the set's reactor operation. This io_context locks its descriptors, so letting the
  // operation go right there would deadlock; the set must still end up holding no work.
  Pair p;
  Recorder r;
  r.then = [&] { set.remove(p.near, &r); };
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("bye");
  run_until([&] { return r.calls == 1; });
  ASSERT_EQ(r.calls, 1);
  auto start = std::chrono::steady_clock::now();
  io.run_for(std::chrono::seconds(2));  // returns once the operation has gone
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // Told nothing after leaving, and usable again.
  p.send("again");
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(p.drain(), "byeagain");
  r.then = nullptr;
  io.restart();
  ASSERT_TRUE(set.add(p.near, &r));
  p.send("!");
  run_until([&] { return r.calls == 2; });
  EXPECT_EQ(r.calls, 2);
  set.remove(p.near, &r);
}

TEST_F(ReadySetTest, AWatcherAddedWhileTheSetLetsGoIsTold) {
  // The last watcher leaves, the set starts letting its operation go, and a new watcher comes
  // before it has gone: the set must watch again once it has.
  Pair a, b;
  Recorder ra, rb;
  ASSERT_TRUE(set.add(a.near, &ra));
  set.remove(a.near, &ra);
  io.run_one_for(std::chrono::milliseconds(50));  // the posted check cancels the operation
  ASSERT_TRUE(set.add(b.near, &rb));              // before the cancelled operation is back
  b.send("hello");
  run_until([&] { return rb.calls == 1; });
  EXPECT_EQ(rb.calls, 1);
  EXPECT_EQ(ra.calls, 0);
  set.remove(b.near, &rb);
}

TEST_F(ReadySetTest, ManyReadyAtOnceAreAllTold) {
  // More than one turn's worth (4 rounds of 64): the rest must not wait for a new arrival.
  constexpr int kPairs = 300;
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<Recorder> recorders(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    ASSERT_TRUE(set.add(pairs.back()->near, &recorders[i]));
  }
  for (auto& p : pairs) p->send("!");
  auto told = [&] {
    int n = 0;
    for (auto& r : recorders) n += r.calls;
    return n;
  };
  run_until([&] { return told() == kPairs; });
  EXPECT_EQ(told(), kPairs);
  for (int i = 0; i < kPairs; ++i) set.remove(pairs[i]->near, &recorders[i]);
}

}  // namespace
}  // namespace sluice::net
