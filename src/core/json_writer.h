// JsonWriter: appends compact JSON to a string, for records written on the data path (the
// audit log) where building a DOM first would cost an allocation per value.
//
// Strings must be UTF-8; `text` writes bytes that are not valid UTF-8 as {"base64": "..."}
// so that what was recorded can always be recovered exactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// An object key: a string literal, checked when the program is compiled to need no escaping
// (no control character, quote or backslash), so that writing it is a plain copy. Recording a
// statement writes some twenty keys; scanning them every time was a measurable share of that
// (bench/RESULTS.md, issue 5).
class JsonKey {
 public:
  template <std::size_t N>
  consteval JsonKey(const char (&literal)[N]) : text_(literal, N - 1) {
    for (char c : text_)
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\')
        throw "a JSON key literal must need no escaping";
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(JsonKey k);
  // A key not known until the program runs: escaped, and bytes that are not valid UTF-8 as
  // "base64:..." (a key cannot be an object).
  JsonWriter& key_string(std::string_view k);
  JsonWriter& string(std::string_view s);  // must be valid UTF-8
  JsonWriter& text(std::string_view s);    // any bytes (see above)
  JsonWriter& number(std::int64_t v);
  JsonWriter& unsigned_number(std::uint64_t v);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  // A value that is JSON already (built earlier by another JsonWriter).
  JsonWriter& raw(std::string_view json);

  // key + value shorthands
  template <class T>
  JsonWriter& field(JsonKey k, const T& v);

 private:
  void separator();
  void escaped(std::string_view s);
  void push();
  std::string& out_;
  // Per nesting level (bit `depth_`): no value written at that level yet. A bit set instead of
  // a vector: writers are made per record on the data path, and this one allocates nothing.
  std::uint64_t first_ = 1;
  unsigned depth_ = 0;
  bool after_key_ = false;
};

template <class T>
JsonWriter& JsonWriter::field(JsonKey k, const T& v) {
  key(k);
  if constexpr (std::is_same_v<T, bool>)
    return boolean(v);
  else if constexpr (std::is_unsigned_v<T>)
    return unsigned_number(v);
  else if constexpr (std::is_integral_v<T>)
    return number(v);
  else
    return text(std::string_view(v));
}

}  // namespace sluice
