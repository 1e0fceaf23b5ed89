// run_worker: how a worker thread runs its event loop.
//
// By default the thread blocks in epoll_wait whenever it has nothing to do, and the kernel
// wakes it when a socket has data. On a virtual machine that wake-up can be the larger part
// of a statement's round trip: a vCPU with nothing to run halts, and waking it is a trip
// through the hypervisor (measured on the development VM, whose guest halts at once:
// bench/RESULTS.md). With `busy_poll` set, the thread goes on polling without blocking for
// that long after its last piece of work, so the next message of a session in flight finds it
// awake; only then does it block. It is HAProxy's `busy-polling` trade: CPU for latency,
// for operators who choose it (off by default).
#pragma once

#include <chrono>

#include "net/asio.h"

namespace sluice::net {

// Runs `io` until it is stopped. `busy_poll` zero: io.run(). The caller holds a work guard on
// `io` (a worker that has no sessions waits for its acceptor's next one).
void run_worker(asio::io_context& io, std::chrono::microseconds busy_poll);

}  // namespace sluice::net
