#include "session/pg/frame_reader.h"

#include <cstring>

namespace sluice::session::pg {

net::awaitable<Result<sluice::pg::Frame>> FrameReader::next(net::Stream& s) {
  for (;;) {
    auto d = sluice::pg::decode_backend({buf_.data() + begin_, end_ - begin_});
    if (d.status == sluice::pg::DecodeStatus::complete) {
      begin_ += d.frame.wire_size();
      co_return d.frame;
    }
    if (d.status == sluice::pg::DecodeStatus::invalid)
      co_return error(Code::protocol_violation, d.error);
    std::size_t need = d.header_known ? d.frame.wire_size() : 5;
    if (need > max_) co_return error(Code::protocol_violation, "message too large during set-up");
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() < need) buf_.resize(need);
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    auto [ec, n] = co_await s.read_some({buf_.data() + end_, buf_.size() - end_});
    if (ec)
      co_return error(Code::unavailable,
                      ec == net::asio::error::eof ? "connection closed" : ec.message());
    end_ += n;
  }
}

}  // namespace sluice::session::pg
