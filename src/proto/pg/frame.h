// Framing of PostgreSQL v3 messages: split a byte stream into messages, nothing more.
//
// Decoding answers one of three things: a complete message, a need for more bytes, or invalid
// input. Every length is checked against a hard limit before the caller allocates or waits
// for anything (SECURITY.md §6). The returned views point into the caller's buffer and stay
// valid as long as those bytes do. No I/O, no allocation, no exceptions; safe on any thread.
#pragma once

#include <cstdint>
#include <span>

#include "core/bytes.h"

namespace sluice::pg {

enum class DecodeStatus : std::uint8_t { complete, need_more, invalid };

struct Frame {
  char type = 0;
  std::uint32_t length = 0;  // the wire length field: counts itself, not the type byte
  Bytes body;                // payload after the length field (complete frames only)
  std::size_t wire_size() const { return std::size_t{length} + 1; }
};

struct Decoded {
  DecodeStatus status = DecodeStatus::need_more;
  // For `complete`: the whole frame. For `need_more` once 5 bytes are in: type and length,
  // so the caller can decide to stream a large message instead of buffering it.
  Frame frame;
  bool header_known = false;
  const char* error = nullptr;  // for `invalid`: what was wrong, as a fixed string
};

struct FrameLimits {
  // Cap for messages whose size depends on user data (Query, Parse, Bind, CopyData, and on the
  // backend side every message that has to be buffered whole to be inspected).
  std::uint32_t max_message_bytes = 16u << 20;
};

// A typed message from a client. Unknown type bytes and lengths outside the per-type bounds
// of frontend_rule() are invalid.
Decoded decode_frontend(Bytes buf, const FrameLimits& limits);

// A typed message from a server. Backend lengths are only checked for sanity here (at least
// 4, at most 1 GiB, PostgreSQL's own ceiling); whether a message may be buffered whole is the
// relay's decision.
Decoded decode_backend(Bytes buf);

// The untyped first message of a connection: length, code, payload.
struct StartupFrame {
  std::uint32_t length = 0;  // counts itself
  std::uint32_t code = 0;    // protocol version or a special request code
  Bytes body;                // after the code
};
struct DecodedStartup {
  DecodeStatus status = DecodeStatus::need_more;
  StartupFrame frame;
  const char* error = nullptr;
};
DecodedStartup decode_startup(Bytes buf, std::uint32_t max_length);

}  // namespace sluice::pg
