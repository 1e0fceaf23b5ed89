#include "core/json_writer.h"

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
JsonWriter& JsonWriter::key(std::string_view k) {
  separator();
  escaped(k);
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
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::unsigned_number(std::uint64_t v) {
  separator();
  out_ += std::to_string(v);
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

void JsonWriter::escaped(std::string_view s) {
  static const char* hexd = "0123456789abcdef";
  out_.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_.append(s.data() + run, i - run);
    run = i + 1;
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
