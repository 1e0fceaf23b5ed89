#include "core/json_writer.h"

#include <charconv>
#include <cstring>
#include <stdexcept>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace sluice {

void JsonWriter::separator() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  const std::uint64_t bit = std::uint64_t{1} << depth_;
  if (!(first_ & bit)) out_.push_back(',');
  first_ &= ~bit;
}

void JsonWriter::push() {
  if (++depth_ >= 64) throw std::length_error("JsonWriter: nested deeper than 63 levels");
  first_ |= std::uint64_t{1} << depth_;
}

JsonWriter& JsonWriter::begin_object() {
  separator();
  out_.push_back('{');
  push();
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_.push_back('}');
  --depth_;
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  separator();
  out_.push_back('[');
  push();
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_.push_back(']');
  --depth_;
  return *this;
}
JsonWriter& JsonWriter::raw(std::string_view json) {
  separator();
  out_.append(json);
  return *this;
}
JsonWriter& JsonWriter::key(JsonKey k) {
  separator();
  out_.push_back('"');
  out_.append(k.text());
  out_.append("\":", 2);
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::key_string(std::string_view k) {
  separator();
  if (is_valid_utf8(k))
    escaped(k);
  else
    escaped("base64:" + crypto::base64_encode(k));
  out_.push_back(':');
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::string(std::string_view s) {
  separator();
  escaped(s);
  return *this;
}
JsonWriter& JsonWriter::text(std::string_view s) {
  if (is_valid_utf8(s)) return string(s);
  separator();
  std::string b64 = crypto::base64_encode(s);
  out_ += "{\"base64\":\"" + b64 + "\"}";
  return *this;
}
JsonWriter& JsonWriter::number(std::int64_t v) {
  separator();
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  return *this;
}
JsonWriter& JsonWriter::unsigned_number(std::uint64_t v) {
  separator();
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  return *this;
}
JsonWriter& JsonWriter::boolean(bool v) {
  separator();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null() {
  separator();
  out_ += "null";
  return *this;
}

namespace {

// Whether any of the 8 bytes in v must be escaped: below 0x20, '"' or '\\'. Bytes from 0x80
// up never are. (The usual bit tricks: `x - 0x01..` borrows into a byte's high bit only where
// that byte is zero, or below n for `x - n*0x01..`, unless the byte's own high bit is set.)
bool needs_escape8(std::uint64_t v) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  auto zero_byte = [](std::uint64_t x) { return (x - ones) & ~x & high; };
  std::uint64_t control = (v - ones * 0x20) & ~v & high;
  return (control | zero_byte(v ^ (ones * '"')) | zero_byte(v ^ (ones * '\\'))) != 0;
}

}  // namespace

void JsonWriter::escaped(std::string_view s) {
  static const char* hexd = "0123456789abcdef";
  // Nearly every key, name and statement needs no escaping: check it all first, a word at a
  // time (the tail as the last eight bytes, overlapping; shorter strings byte by byte), and
  // copy it in one piece.
  auto word = [&s](std::size_t at) {
    std::uint64_t v;
    std::memcpy(&v, s.data() + at, 8);
    return v;
  };
  const std::size_t n = s.size();
  std::size_t i = 0;
  bool clean = true;
  for (; i + 8 <= n; i += 8) {
    if (needs_escape8(word(i))) {
      clean = false;
      break;
    }
  }
  if (clean && i < n) {
    if (n >= 8) {
      clean = !needs_escape8(word(n - 8));
    } else {
      for (unsigned char c : s) clean &= c >= 0x20 && c != '"' && c != '\\';
    }
  }
  if (clean) {
    out_.push_back('"');
    out_.append(s);
    out_.push_back('"');
    return;
  }
  out_.push_back('"');
  out_.append(s.data(), i);
  std::size_t run = i;
  while (i < s.size()) {
    // Eight bytes at a time while none needs escaping (most text).
    if (i + 8 <= s.size()) {
      std::uint64_t v;
      std::memcpy(&v, s.data() + i, 8);
      if (!needs_escape8(v)) {
        i += 8;
        continue;
      }
    }
    unsigned char c = static_cast<unsigned char>(s[i++]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_.append(s.data() + run, i - 1 - run);
    run = i;
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        out_ += "\\u00";
        out_.push_back(hexd[c >> 4]);
        out_.push_back(hexd[c & 15]);
    }
  }
  out_.append(s.data() + run, s.size() - run);
  out_.push_back('"');
}

}  // namespace sluice
