// FrameReader: reads whole typed messages from a Stream during connection set-up, where
// messages are few and small. (The relay reads with its own buffers.)
#pragma once

#include <vector>

#include "core/status.h"
#include "net/stream.h"
#include "proto/pg/frame.h"

namespace sluice::session::pg {

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message) : max_(max_message) {}

  // The next backend-style typed message; the view is valid until the next call.
  net::awaitable<Result<sluice::pg::Frame>> next(net::Stream& s);
  // Bytes read past the last returned message.
  std::size_t buffered() const { return end_ - begin_; }
  Bytes buffered_bytes() const { return {buf_.data() + begin_, end_ - begin_}; }

 private:
  std::size_t max_;
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(8192);
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace sluice::session::pg
