#include "session/pg/output_buffer.h"

namespace sluice::session::pg {

void OutputBuffer::pass(const std::uint8_t* p, std::size_t n) {
  if (n == 0) return;
  if (!segs_.empty()) {
    Seg& last = segs_.back();
    if (!last.owned && last.ptr + last.len == p) {
      last.len += n;
      return;
    }
  }
  segs_.push_back({false, p, 0, n});
}

void OutputBuffer::record_owned(std::size_t off, std::size_t len) {
  if (len == 0) return;
  if (!segs_.empty()) {
    Seg& last = segs_.back();
    if (last.owned && last.off + last.len == off) {
      last.len += len;
      return;
    }
  }
  segs_.push_back({true, nullptr, off, len});
}

std::size_t OutputBuffer::size() const {
  std::size_t n = 0;
  for (const auto& s : segs_) n += s.len;
  return n;
}

const std::vector<Bytes>& OutputBuffer::segments() {
  resolved_.clear();
  const auto* base = reinterpret_cast<const std::uint8_t*>(owned_.data());
  for (const auto& s : segs_) resolved_.emplace_back(s.owned ? base + s.off : s.ptr, s.len);
  return resolved_;
}

void OutputBuffer::clear() {
  segs_.clear();
  owned_.clear();
  resolved_.clear();
}

}  // namespace sluice::session::pg
