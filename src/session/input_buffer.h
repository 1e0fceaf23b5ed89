// InputBuffer: bytes read from a peer and not yet consumed, with bounded growth.
//
// The unconsumed region stays where it is until the next reserve(), so views handed out for
// a write stay valid until the caller asks for more room. Growth stops at `max`; whoever
// needs more than that has hit a configured limit.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "core/bytes.h"

namespace sluice::session {

class InputBuffer {
 public:
  InputBuffer(std::size_t initial, std::size_t max) : buf_(initial), max_(max) {}

  Bytes data() const { return {buf_.data() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Makes room to hold at least `need` unconsumed bytes and to read more. False when that
  // would exceed the maximum size.
  bool reserve(std::size_t need) {
    if (need > max_) return false;
    if (begin_ > 0 && (buf_.size() - end_ < 4096 || buf_.size() - begin_ < need)) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() < need) buf_.resize(std::min(max_, std::max(need, buf_.size() * 2)));
    if (end_ == buf_.size() && buf_.size() < max_) buf_.resize(std::min(max_, buf_.size() * 2));
    return end_ < buf_.size();
  }
  std::span<std::uint8_t> free_space() { return {buf_.data() + end_, buf_.size() - end_}; }
  void commit(std::size_t n) { end_ += n; }
  void append(Bytes b) {
    reserve(size() + b.size());
    std::memcpy(buf_.data() + end_, b.data(), b.size());
    end_ += b.size();
  }

 private:
  std::vector<std::uint8_t> buf_;
  std::size_t max_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace sluice::session
