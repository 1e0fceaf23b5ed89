#include "net/ready_watch.h"

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace sluice::net {

namespace detail = boost::asio::detail;
// The reactor interface used below is Asio's epoll reactor's, as Boost 1.81 has it (Debian 12);
// another Boost fails to compile here rather than misbehave.
static_assert(std::is_same_v<detail::reactor, detail::epoll_reactor>);
using DescriptorState = detail::epoll_reactor::descriptor_state;

namespace {

// Where Asio keeps a socket's registration with its reactor: the socket's implementation,
// which basic_socket holds as a protected member (a derived class may name it).
struct SocketAccess : asio::ip::tcp::socket {
  static detail::epoll_reactor::per_descriptor_data& reactor_data(asio::ip::tcp::socket& s) {
    return (s.*&SocketAccess::impl_).get_implementation().reactor_data_;
  }
};

// The epoll reactor registers a socket for EPOLLIN, EPOLLERR, EPOLLHUP and EPOLLPRI, not
// EPOLLRDHUP, so a peer's close that arrives with its last data is one edge that looks like
// data alone, and a watcher that stops at the short read would never learn of it. The watch
// adds EPOLLRDHUP to the registration's events (Asio passes them to every later epoll_ctl of
// the socket, and handles the extra flag as it handles EPOLLIN), and reads the events the
// reactor reported for the pass it runs in (Op::reported_events). The registration's events
// are a private field of the descriptor state: an explicit instantiation is the one place C++
// lets a private member be named from outside, and the types below must match Boost's
// exactly or this fails to compile.
template <class Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type member(Tag) { return Member; }
};
struct RegisteredEvents {
  using type = std::uint32_t DescriptorState::*;
  friend type member(RegisteredEvents);
};
template struct Expose<RegisteredEvents, &DescriptorState::registered_events_>;

}  // namespace

// The operation that stays queued at the head of the socket's read queue. Its perform step
// runs on every edge and never finishes; it comes back (completes) when stop() cancels it,
// when the socket is cancelled or closed, or when the io_context shuts down.
struct ReadyWatch::Op final : detail::reactor_op {
  Op(ReadyWatch& h, detail::epoll_reactor& r, DescriptorState* s)
      : detail::reactor_op(error_code(), &Op::perform_step, &Op::come_back),
        handle(&h),
        reactor(r),
        state(s) {
    cancellation_key_ = this;
  }

  // The events the reactor reported for the pass over the descriptor that runs this step.
  // The scheduler hands them to the pass from the descriptor state's task_result_, a field of
  // Asio's operation base (protected: this class may name it), and leaves them there. The
  // state derives from that base privately, which only a C-style cast may step past.
  std::uint32_t reported_events() const {
    const auto* base = (const detail::scheduler_operation*)state;
    return base->*(&Op::task_result_);
  }

  static status perform_step(detail::reactor_op* base) {
    auto* op = static_cast<Op*>(base);
    if (ReadyWatch* watch = op->handle) {
      const bool hangup = (op->reported_events() & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
      watch->watcher_->on_ready(hangup);
    }
    // Never done: the call may have stopped the watch or cancelled the socket, which took the
    // operation out of the queue already (it comes back through the scheduler); otherwise it
    // waits for the next edge.
    return not_done;
  }

  // `owner` is null when the io_context is being destroyed: nothing may be called then.
  static void come_back(void* owner, detail::scheduler_operation* base, const error_code&,
                        std::size_t) {
    std::unique_ptr<Op> op(static_cast<Op*>(base));
    ReadyWatch* watch = op->handle;
    if (!watch) return;  // stopped
    // Ended under a running watch: the socket was cancelled or closed.
    watch->op_ = nullptr;
    if (owner) watch->watcher_->on_ready(/*hangup=*/true);
  }

  ReadyWatch* handle;  // null once stopped
  detail::epoll_reactor& reactor;
  // Asio pools descriptor states and frees none before the reactor goes, so this stays valid
  // for cancel_ops_by_key even after the socket closes (which then finds nothing).
  DescriptorState* state;
};

bool ReadyWatch::start(asio::ip::tcp::socket& socket, Watcher* w) {
  stop();
  if (!socket.is_open()) return false;
  detail::epoll_reactor::per_descriptor_data& data = SocketAccess::reactor_data(socket);
  if (!data) return false;
  auto& context = asio::query(socket.get_executor(), asio::execution::context);
  // Watchers stop watches and cancel sockets from inside their calls, which run inside the
  // reactor's pass over the socket: on an io_context that locks its descriptors, that would
  // take a lock the pass holds.
  if (BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(
          REACTOR_IO, asio::use_service<detail::scheduler>(context).concurrency_hint()))
    return false;
  auto& reactor = asio::use_service<detail::epoll_reactor>(context);
  watcher_ = w;
  op_ = new Op(*this, reactor, data);
  data->*member(RegisteredEvents{}) |= EPOLLRDHUP;
  // Not speculative: the step would run here, inside a caller that may be a watcher. With the
  // read queue empty, Asio then modifies the registration (an epoll_ctl, which now carries
  // EPOLLRDHUP), and the kernel reports a socket that is already readable.
  reactor.start_op(detail::epoll_reactor::read_op, socket.native_handle(), data, op_,
                   /*is_continuation=*/false, /*allow_speculative=*/false);
  return true;
}

bool ReadyWatch::running() const {
  return op_ && !op_->ec_;  // a cancel or close set the error when it took the operation out
}

void ReadyWatch::stop() {
  Op* op = std::exchange(op_, nullptr);
  if (!op) return;
  op->handle = nullptr;
  detail::epoll_reactor::per_descriptor_data state = op->state;
  op->reactor.cancel_ops_by_key(-1, state, detail::epoll_reactor::read_op, op);
}

}  // namespace sluice::net
