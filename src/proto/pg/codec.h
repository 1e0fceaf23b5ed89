// Field-level reading and writing of PostgreSQL message bodies.
//
// BodyReader walks a message body and never reads past it: any short or unterminated field
// sets a sticky failure that the caller checks once. MessageWriter appends whole messages to a
// std::string and patches the length when the message ends. Both are plain values for one
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"

namespace sluice::pg {

class BodyReader {
 public:
  explicit BodyReader(Bytes body) : p_(body.data()), end_(body.data() + body.size()) {}

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return *p_++;
  }
  std::int16_t i16() {
    if (!need(2)) return 0;
    auto v = static_cast<std::int16_t>(load_be16(p_));
    p_ += 2;
    return v;
  }
  std::int32_t i32() {
    if (!need(4)) return 0;
    auto v = static_cast<std::int32_t>(load_be32(p_));
    p_ += 4;
    return v;
  }
  // A NUL-terminated string; the view excludes the NUL.
  std::string_view cstr();
  Bytes bytes(std::size_t n) {
    if (!need(n)) return {};
    Bytes b{p_, n};
    p_ += n;
    return b;
  }
  Bytes rest() {
    Bytes b{p_, static_cast<std::size_t>(end_ - p_)};
    p_ = end_;
    return b;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  // True when every field was present and nothing trails the last one.
  bool done() const { return ok_ && at_end(); }

 private:
  bool need(std::size_t n) {
    if (!ok_ || static_cast<std::size_t>(end_ - p_) < n) {
      ok_ = false;
      p_ = end_;
      return false;
    }
    return true;
  }
  const std::uint8_t* p_;
  const std::uint8_t* end_;
  bool ok_ = true;
};

class MessageWriter {
 public:
  explicit MessageWriter(std::string& out) : out_(out) {}

  // Starts a typed message. `type` 0 starts an untyped (startup-class) message.
  MessageWriter& begin(char type);
  MessageWriter& u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  MessageWriter& i16(std::int16_t v);
  MessageWriter& i32(std::int32_t v);
  MessageWriter& cstr(std::string_view s) {
    out_.append(s);
    out_.push_back('\0');
    return *this;
  }
  MessageWriter& raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  // Ends the message, writing its length field.
  void end();

 private:
  std::string& out_;
  std::size_t start_ = 0;  // offset of the length field
};

}  // namespace sluice::pg
