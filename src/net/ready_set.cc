#include "net/ready_set.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <type_traits>

#include "core/log.h"

namespace sluice::net {

namespace detail = boost::asio::detail;
// The reactor interface used below is Asio's epoll reactor's, as Boost 1.81 has it (Debian 12);
// another Boost fails to compile here rather than misbehave.
static_assert(std::is_same_v<detail::reactor, detail::epoll_reactor>);

// The operation that stays queued in Asio's reactor on the set's descriptor. Its perform step
// runs on every edge and never finishes; it comes back (completes) only when cancelled or
// when the io_context shuts down.
struct ReadySet::Watch final : detail::reactor_op {
  Watch(ReadySet& s, detail::epoll_reactor& r)
      : detail::reactor_op(error_code(), &Watch::perform_step, &Watch::come_back),
        set(s),
        reactor(r) {}

  static status perform_step(detail::reactor_op* op) {
    static_cast<Watch*>(op)->set.on_edge();
    return not_done;  // stay queued for the next edge
  }
  // `owner` is null when the io_context is being destroyed: nothing may run then.
  static void come_back(void* owner, detail::scheduler_operation* op, const error_code&,
                        std::size_t) {
    auto* w = static_cast<Watch*>(op);
    w->set.armed_ = false;
    if (owner) w->set.on_disarmed();
  }

  ReadySet& set;
  detail::epoll_reactor& reactor;
  detail::epoll_reactor::per_descriptor_data data = nullptr;
};

ReadySet::ReadySet(asio::execution_context& context) : asio::execution_context::service(context) {
  // The reactor exists before this service is linked into the context, so it shuts down after
  // it (services shut down newest first), and shutdown() below can still deregister.
  auto& reactor = asio::use_service<detail::epoll_reactor>(context);
  reactor.init_task();  // the scheduler runs the reactor (Asio's I/O services all do this)
  watch_ = std::make_unique<Watch>(*this, reactor);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  if (int err = reactor.register_descriptor(epoll_fd_, watch_->data); err != 0) {
    reactor.cleanup_descriptor_data(watch_->data);
    ::close(epoll_fd_);
    throw std::system_error(err, std::generic_category(), "registering the ready set");
  }
}

// shutdown() closed the set's descriptor: a context shuts every service down before it
// destroys any.
ReadySet::~ReadySet() = default;

ReadySet* ReadySet::of(const asio::any_io_executor& executor) {
  const auto* ex = executor.target<asio::io_context::executor_type>();
  return ex ? &asio::use_service<ReadySet>(ex->context()) : nullptr;
}

bool ReadySet::add(int fd, Watcher* w) {
  if (shut_down_) return false;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = w;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  ++watchers_;
  if (!armed_) arm();
  return true;
}

void ReadySet::remove(int fd, Watcher* w) {
  if (shut_down_) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  for (std::size_t i = batch_next_; i < batch_.size(); ++i)
    if (batch_[i].watcher == w) batch_[i].watcher = nullptr;
  // With nothing to watch, the set holds no operation open, so an io_context that runs out of
  // other work can return from run(). Not cancelled here: this may run inside the operation's
  // own perform step, where the reactor holds the descriptor's lock.
  if (--watchers_ == 0 && armed_ && !idle_posted_) {
    idle_posted_ = true;
    asio::post(static_cast<asio::io_context&>(context()), [this] {
      idle_posted_ = false;
      idle_check();
    });
  }
}

void ReadySet::arm() {
  watch_->ec_ = error_code();
  armed_ = true;
  // Not speculative: the step would run here, inside a caller that may be a watcher. Asio
  // modifies the registration instead (an epoll_ctl), which makes the kernel look at the set
  // again: one that is already non-empty is reported.
  watch_->reactor.start_op(detail::epoll_reactor::read_op, epoll_fd_, watch_->data, watch_.get(),
                           /*is_continuation=*/false, /*allow_speculative=*/false);
}

void ReadySet::on_disarmed() {
  if (shut_down_ || watchers_ == 0) return;
  if (watch_->ec_ != asio::error::operation_aborted) {
    // The reactor refused the operation (it cannot, for a descriptor it registered): arming
    // again would spin. Parked sessions then wait for their timeouts; say why.
    log::error("net", "the worker's ready set cannot be watched: ", watch_->ec_.message());
    return;
  }
  // Cancelled while empty and added to since: watch again. Anything that arrived meanwhile
  // is still in the set, and arming reports it.
  arm();
}

void ReadySet::idle_check() {
  if (shut_down_ || watchers_ > 0 || !armed_) return;
  watch_->reactor.cancel_ops(epoll_fd_, watch_->data);
}

void ReadySet::on_edge() {
  if (shut_down_ || posted_) return;  // a posted turn reads the set next
  if (dispatch()) {
    // Keep the worker's other sessions, timers and accepts from waiting behind a flood.
    posted_ = true;
    asio::post(static_cast<asio::io_context&>(context()), [this] {
      posted_ = false;
      on_edge();
    });
  }
}

bool ReadySet::dispatch() {
  constexpr int kMax = 64;
  epoll_event events[kMax];
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    int n = epoll_wait(epoll_fd_, events, kMax, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    batch_.clear();
    for (int i = 0; i < n; ++i)
      batch_.push_back({static_cast<Watcher*>(events[i].data.ptr),
                        (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0});
    for (batch_next_ = 0; batch_next_ < batch_.size();) {
      Event e = batch_[batch_next_++];
      if (e.watcher) e.watcher->on_ready(e.hangup);
    }
    batch_.clear();
    batch_next_ = 0;
    // Edge-triggered at both levels: a full batch may have left events behind, and Asio will
    // not hear of them again until something new arrives.
    if (n < kMax) return false;
  }
  return true;
}

void ReadySet::shutdown() {
  shut_down_ = true;
  // The queued operation goes back to the scheduler, which destroys it with the rest.
  watch_->reactor.deregister_descriptor(epoll_fd_, watch_->data, /*closing=*/false);
  ::close(epoll_fd_);
  epoll_fd_ = -1;
  watch_->reactor.cleanup_descriptor_data(watch_->data);
}

}  // namespace sluice::net
