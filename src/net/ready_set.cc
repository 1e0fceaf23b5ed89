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
  if (!armed_) arm();
  return true;
}

void ReadySet::remove(int fd, Watcher* w) {
  if (shut_down_) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  for (std::size_t i = batch_next_; i < batch_.size(); ++i)
    if (batch_[i] == w) batch_[i] = nullptr;
  // With nothing to watch, the set holds no operation open, so an io_context that runs out of
  // other work can return from run().
  if (--watchers_ == 0 && armed_) descriptor_.cancel();
}

void ReadySet::arm() {
  armed_ = true;
  descriptor_.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    armed_ = false;
    if (shut_down_) return;
    if (!ec) dispatch();
    // A cancel (nothing left to watch) may have crossed a new add().
    if (watchers_ > 0 && !armed_) arm();
  });
}

void ReadySet::dispatch() {
  constexpr int kMax = 64;
  epoll_event events[kMax];
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, kMax, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    batch_.clear();
    for (int i = 0; i < n; ++i) batch_.push_back(static_cast<Watcher*>(events[i].data.ptr));
    for (batch_next_ = 0; batch_next_ < batch_.size();) {
      Watcher* w = batch_[batch_next_++];
      if (w) w->on_ready();
    }
    batch_.clear();
    batch_next_ = 0;
    // Edge-triggered at both levels: a full batch may have left events behind, and Asio will
    // not hear of them again until something new arrives.
    if (n < kMax) return;
  }
}

void ReadySet::shutdown() {
  shut_down_ = true;
  error_code ignored;
  descriptor_.close(ignored);
}

}  // namespace sluice::net
