// Regression: a lambda written inside a co_await expression had its captures destroyed twice
// by GCC 12 (ASan: double free in the session's token lookup). run_blocking is called with
// named function objects; this test keeps that call shape working under the sanitizers.
#include <gtest/gtest.h>

#include <string>

#include "net/blocking.h"

namespace sluice::net {
namespace {

TEST(CoroutineTemporaries, RunBlockingWithANamedCapturingLambda) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::size_t got = 0;
  auto body = [&]() -> awaitable<void> {
    std::string captured(64, 'x');  // heap-allocated, so a double free would show
    auto fn = [captured] { return captured.size(); };
    auto r = co_await run_blocking(pool, fn);
    got = *r;
  };
  asio::co_spawn(io, body(), asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(got, 64u);
}

}  // namespace
}  // namespace sluice::net
