#include "proto/pg/codec.h"

#include <cstring>

namespace sluice::pg {

std::string_view BodyReader::cstr() {
  if (!ok_) return {};
  const void* nul = std::memchr(p_, 0, static_cast<std::size_t>(end_ - p_));
  if (nul == nullptr) {
    ok_ = false;
    p_ = end_;
    return {};
  }
  auto* z = static_cast<const std::uint8_t*>(nul);
  std::string_view s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(z - p_));
  p_ = z + 1;
  return s;
}

MessageWriter& MessageWriter::begin(char type) {
  if (type != 0) out_.push_back(type);
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

MessageWriter& MessageWriter::i16(std::int16_t v) {
  char b[2];
  store_be16(reinterpret_cast<std::uint8_t*>(b), static_cast<std::uint16_t>(v));
  out_.append(b, 2);
  return *this;
}

MessageWriter& MessageWriter::i32(std::int32_t v) {
  char b[4];
  store_be32(reinterpret_cast<std::uint8_t*>(b), static_cast<std::uint32_t>(v));
  out_.append(b, 4);
  return *this;
}

void MessageWriter::end() {
  auto len = static_cast<std::uint32_t>(out_.size() - start_);
  store_be32(reinterpret_cast<std::uint8_t*>(out_.data() + start_), len);
}

}  // namespace sluice::pg
