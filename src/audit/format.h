// The audit log's on-disk format (docs/design/audit_log_format.md).
//
// Files are sequences of 32 KiB blocks holding frames, as in LevelDB's log format: each frame
// is crc32c(4, masked) | length(2, little-endian) | type(1) | payload, and a record larger
// than what is left of a block is split into FIRST, MIDDLE... LAST frames. A block trailer
// shorter than a header is zero-filled. The CRC covers the type and the payload.
//
// A record (the frames' joined payload) is: kind(1) | seq(8) | time_us(8) | prev_hash(32) |
// body, integers little-endian. `prev_hash` is the SHA-256 of the previous record's bytes, so
// the records form one chain across segments; checkpoints sign the chain's head.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::audit {

inline constexpr std::size_t kBlockSize = 32768;
inline constexpr std::size_t kHeaderSize = 7;
inline constexpr std::size_t kRecordHeaderSize = 1 + 8 + 8 + 32;

enum class FrameType : std::uint8_t { full = 1, first = 2, middle = 3, last = 4 };

enum class Kind : std::uint8_t {
  segment_start = 1,
  checkpoint = 2,
  session_start = 3,
  statement = 4,
  result = 5,
  session_end = 6,
  grant = 7,
  retention = 8,
};
std::string_view kind_name(Kind k);
std::optional<Kind> parse_kind(std::uint8_t v);

using Hash = std::array<unsigned char, 32>;
std::string hex(const Hash& h);
std::optional<Hash> parse_hex_hash(std::string_view s);

struct Record {
  Kind kind = Kind::segment_start;
  std::uint64_t seq = 0;
  std::int64_t time_us = 0;  // wall clock, microseconds since the epoch
  Hash prev{};
  std::string body;  // JSON
};

std::string encode_record(const Record& r);
// The same bytes, written into `out` (replacing its contents): the writer reuses one buffer.
void encode_record(Kind kind, std::uint64_t seq, std::int64_t time_us, const Hash& prev,
                   std::string_view body, std::string& out);
Result<Record> decode_record(std::string_view bytes);
Hash hash_bytes(std::string_view bytes);

// Frames records into a file that already holds `offset` bytes.
class FrameWriter {
 public:
  explicit FrameWriter(std::uint64_t offset = 0) : offset_(offset) {}
  // Appends the framed record to `out`.
  void add(std::string_view record, std::string& out);
  std::uint64_t offset() const { return offset_; }

 private:
  std::uint64_t offset_;
};

// Reads the records of one file, in order.
class FrameReader {
 public:
  explicit FrameReader(std::string_view file) : data_(file) {}
  enum class Next : std::uint8_t {
    record,   // `record` holds the next record
    end,      // clean end of file
    torn,     // the file ends inside a frame: a write cut short (a crash), or a truncation
    corrupt,  // a frame fails its checksum or framing rules; `why` says which
  };
  Next next(std::string& record, std::string& why);
  // Where the last record returned started, and where reading stopped.
  std::uint64_t record_offset() const { return record_offset_; }
  std::uint64_t offset() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  std::uint64_t record_offset_ = 0;
};

}  // namespace sluice::audit
