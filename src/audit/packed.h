// Packing: the encoding of the audit log's packed bodies (event_body.h, and
// docs/design/audit_log_format.md, "Packed bodies").
//
// Packing is copying: integers as their little-endian bytes, strings as a 4-byte length and
// their bytes, in an order that the body's reader reads back the same way. A read past the
// end (a reader that does not match its packer, or a cut body) yields zeros and empty
// strings, and ok() turns false.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::audit {

// The integers are copied as they are in memory, which is their little-endian form only on
// little-endian machines (x86-64, arm64: those Sluice is built for).
static_assert(std::endian::native == std::endian::little,
              "packed audit bodies are little-endian: add byte swaps for this machine");

class PackWriter {
 public:
  explicit PackWriter(std::string& out) : out_(out) {}

  PackWriter& u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  PackWriter& u32(std::uint32_t v) { return raw(&v, sizeof v); }
  PackWriter& u64(std::uint64_t v) { return raw(&v, sizeof v); }
  PackWriter& i64(std::int64_t v) { return raw(&v, sizeof v); }
  PackWriter& str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  // SQL NULL or a value.
  PackWriter& opt(std::optional<std::string_view> s) {
    u8(s ? 1 : 0);
    if (s) str(*s);
    return *this;
  }

 private:
  PackWriter& raw(const void* p, std::size_t n) {
    out_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string& out_;
};

class PackReader {
 public:
  explicit PackReader(std::string_view in) : in_(in) {}

  std::uint8_t u8() { return number<std::uint8_t>(); }
  std::uint32_t u32() { return number<std::uint32_t>(); }
  std::uint64_t u64() { return number<std::uint64_t>(); }
  std::int64_t i64() { return number<std::int64_t>(); }
  std::string_view str() {
    std::uint32_t n = u32();
    if (n > in_.size()) return fail();
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::optional<std::string_view> opt() {
    if (!u8()) return std::nullopt;
    return str();
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }

 private:
  template <class T>
  T number() {
    T v = 0;
    if (sizeof v > in_.size()) {
      fail();
      return v;
    }
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::string_view fail() {
    ok_ = false;
    in_ = {};
    return {};
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace sluice::audit
