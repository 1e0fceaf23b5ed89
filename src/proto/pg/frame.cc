#include "proto/pg/frame.h"

#include "proto/pg/message.h"

namespace sluice::pg {
namespace {
constexpr std::uint32_t kBackendCeiling = 1u << 30;
}

Decoded decode_frontend(Bytes buf, const FrameLimits& limits) {
  Decoded d;
  if (buf.empty()) return d;
  const FrontendRule* rule = frontend_rule(static_cast<char>(buf[0]));
  if (rule == nullptr) {
    d.status = DecodeStatus::invalid;
    d.error = "unknown frontend message type";
    return d;
  }
  if (buf.size() < 5) return d;
  d.frame.type = static_cast<char>(buf[0]);
  d.frame.length = load_be32(buf.data() + 1);
  d.header_known = true;
  std::uint32_t max = rule->bounded_by_config ? limits.max_message_bytes : rule->max_length;
  if (d.frame.length < rule->min_length) {
    d.status = DecodeStatus::invalid;
    d.error = "message length is below the minimum for its type";
    return d;
  }
  if (d.frame.length > max) {
    d.status = DecodeStatus::invalid;
    d.error = "message length exceeds the limit for its type";
    return d;
  }
  if (buf.size() < d.frame.wire_size()) return d;
  d.status = DecodeStatus::complete;
  d.frame.body = buf.subspan(5, d.frame.length - 4);
  return d;
}

Decoded decode_backend(Bytes buf) {
  Decoded d;
  if (buf.size() < 5) return d;
  d.frame.type = static_cast<char>(buf[0]);
  d.frame.length = load_be32(buf.data() + 1);
  d.header_known = true;
  if (d.frame.length < 4 || d.frame.length > kBackendCeiling) {
    d.status = DecodeStatus::invalid;
    d.error = "server message length out of range";
    return d;
  }
  if (buf.size() < d.frame.wire_size()) return d;
  d.status = DecodeStatus::complete;
  d.frame.body = buf.subspan(5, d.frame.length - 4);
  return d;
}

DecodedStartup decode_startup(Bytes buf, std::uint32_t max_length) {
  DecodedStartup d;
  if (buf.size() < 4) return d;
  std::uint32_t len = load_be32(buf.data());
  if (len < 8) {
    d.status = DecodeStatus::invalid;
    d.error = "startup packet length is below 8";
    return d;
  }
  if (len > max_length) {
    d.status = DecodeStatus::invalid;
    d.error = "startup packet exceeds the size limit";
    return d;
  }
  if (buf.size() < len) return d;
  d.status = DecodeStatus::complete;
  d.frame.length = len;
  d.frame.code = load_be32(buf.data() + 4);
  d.frame.body = buf.subspan(8, len - 8);
  return d;
}

}  // namespace sluice::pg
