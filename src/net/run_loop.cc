#include "net/run_loop.h"

namespace sluice::net {

void run_worker(asio::io_context& io, std::chrono::microseconds busy_poll) {
  if (busy_poll.count() <= 0) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  while (!io.stopped()) {
    // poll() runs what is ready, the reactor's non-blocking epoll_wait included.
    if (io.poll() > 0) {
      last_work = Clock::now();
      continue;
    }
    if (Clock::now() - last_work < busy_poll) continue;
    io.run_one();  // blocks until there is work (the caller holds a work guard)
    last_work = Clock::now();
  }
}

}  // namespace sluice::net
