#include "net/ready_set.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sluice::net {

namespace {

int make_epoll() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}

}  // namespace

ReadySet::ReadySet(asio::execution_context& context)
    : asio::execution_context::service(context),
      epoll_fd_(make_epoll()),
      descriptor_(static_cast<asio::io_context&>(context), epoll_fd_) {}

ReadySet::~ReadySet() = default;  // descriptor_ closes epoll_fd_

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
  if (!waiting_ && !posted_) arm();
  return true;
}

void ReadySet::remove(int fd, Watcher* w) {
  if (shut_down_) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  for (std::size_t i = batch_next_; i < batch_.size(); ++i)
    if (batch_[i].watcher == w) batch_[i].watcher = nullptr;
  // With nothing to watch, the set holds no operation open, so an io_context that runs out of
  // other work can return from run().
  if (--watchers_ == 0 && waiting_) descriptor_.cancel();
}

void ReadySet::arm() {
  waiting_ = true;
  descriptor_.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code) {
    waiting_ = false;
    if (shut_down_) return;
    // Also after a cancel: an add() since may have had its first events taken by Asio's
    // epoll_wait while no wait was open, so look at the set before waiting again.
    turn();
  });
}

void ReadySet::turn() {
  if (dispatch()) {
    // Keep the worker's other sessions, timers and accepts from waiting behind a flood.
    posted_ = true;
    asio::post(descriptor_.get_executor(), [this] {
      posted_ = false;
      if (!shut_down_) turn();
    });
    return;
  }
  if (watchers_ > 0 && !waiting_) arm();
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
  error_code ignored;
  descriptor_.close(ignored);
}

}  // namespace sluice::net
