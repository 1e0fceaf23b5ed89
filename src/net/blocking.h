// run_blocking: call a blocking function (a state store query) on a thread pool and resume
// the calling coroutine on its own executor with the result. Session threads never block.
//
// Pass a named function object, never a lambda written inside the co_await expression:
// GCC 12 destroys the captures of such a temporary twice (found by ASan; the pattern is
// reproduced in tests/unit/coroutine_temporaries_test.cc).
#pragma once

#include <type_traits>
#include <utility>

#include "net/asio.h"

namespace sluice::net {

template <class F>
auto run_blocking(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  return asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<R>)>(
      [&pool](auto handler, F fn) {
        auto ex = asio::get_associated_executor(handler);
        asio::post(pool, [fn = std::move(fn), handler = std::move(handler), ex]() mutable {
          std::optional<R> r(fn());
          asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(f));
}

}  // namespace sluice::net
