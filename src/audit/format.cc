#include "audit/format.h"

#include <cstring>

#include "audit/crc32c.h"
#include "crypto/primitives.h"

namespace sluice::audit {
namespace {

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::segment_start:
      return "segment_start";
    case Kind::checkpoint:
      return "checkpoint";
    case Kind::session_start:
      return "session_start";
    case Kind::statement:
      return "statement";
    case Kind::result:
      return "result";
    case Kind::session_end:
      return "session_end";
    case Kind::grant:
      return "grant";
    case Kind::retention:
      return "retention";
  }
  return "unknown";
}

std::optional<Kind> parse_kind(std::uint8_t v) {
  if (v < 1 || v > 8) return std::nullopt;
  return static_cast<Kind>(v);
}

std::string hex(const Hash& h) {
  return crypto::hex_encode(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

std::optional<Hash> parse_hex_hash(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  Hash h{};
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int a = nib(s[2 * i]), b = nib(s[2 * i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    h[i] = static_cast<unsigned char>(a * 16 + b);
  }
  return h;
}

std::string encode_record(const Record& r) {
  std::string out;
  encode_record(r.kind, r.seq, r.time_us, r.prev, r.body, out);
  return out;
}

void encode_record(Kind kind, std::uint64_t seq, std::int64_t time_us, const Hash& prev,
                   std::string_view body, std::string& out) {
  out.clear();
  out.reserve(kRecordHeaderSize + body.size());
  out.push_back(static_cast<char>(kind));
  put_u64(out, seq);
  put_u64(out, static_cast<std::uint64_t>(time_us));
  out.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  out.append(body);
}

Result<Record> decode_record(std::string_view b) {
  if (b.size() < kRecordHeaderSize)
    return error(Code::invalid_argument, "a record shorter than its header");
  auto kind = parse_kind(static_cast<unsigned char>(b[0]));
  if (!kind) return error(Code::invalid_argument, "unknown record kind " + std::to_string(b[0]));
  Record r;
  r.kind = *kind;
  r.seq = get_u64(b.data() + 1);
  r.time_us = static_cast<std::int64_t>(get_u64(b.data() + 9));
  std::memcpy(r.prev.data(), b.data() + 17, 32);
  r.body = std::string(b.substr(kRecordHeaderSize));
  return r;
}

Hash hash_bytes(std::string_view bytes) {
  auto d = crypto::sha256(bytes);
  Hash h;
  std::memcpy(h.data(), d.data(), 32);
  return h;
}

void FrameWriter::add(std::string_view record, std::string& out) {
  bool first = true;
  do {
    std::size_t left = kBlockSize - offset_ % kBlockSize;
    if (left < kHeaderSize) {
      out.append(left, '\0');  // block trailer
      offset_ += left;
      left = kBlockSize;
    }
    std::size_t room = left - kHeaderSize;
    std::size_t n = std::min(room, record.size());
    bool last = n == record.size();
    FrameType type = first && last ? FrameType::full
                     : first       ? FrameType::first
                     : last        ? FrameType::last
                                   : FrameType::middle;
    char t = static_cast<char>(type);
    std::uint32_t crc = crc32c(record.substr(0, n), crc32c(std::string_view(&t, 1)));
    crc = mask_crc(crc);
    char header[kHeaderSize] = {static_cast<char>(crc & 0xff),
                                static_cast<char>((crc >> 8) & 0xff),
                                static_cast<char>((crc >> 16) & 0xff),
                                static_cast<char>((crc >> 24) & 0xff),
                                static_cast<char>(n & 0xff),
                                static_cast<char>((n >> 8) & 0xff),
                                t};
    out.append(header, kHeaderSize);
    out.append(record.substr(0, n));
    offset_ += kHeaderSize + n;
    record.remove_prefix(n);
    first = false;
  } while (!record.empty());
}

FrameReader::Next FrameReader::next(std::string& record, std::string& why) {
  record.clear();
  bool in_record = false;
  for (;;) {
    std::size_t left = kBlockSize - pos_ % kBlockSize;
    if (left < kHeaderSize) {
      std::size_t avail = std::min(left, data_.size() - pos_);
      for (std::size_t i = 0; i < avail; ++i)
        if (data_[pos_ + i] != '\0') {
          why = "non-zero bytes in a block trailer at offset " + std::to_string(pos_ + i);
          return Next::corrupt;
        }
      if (pos_ + left > data_.size()) {
        pos_ = data_.size();
        if (in_record) return Next::torn;
        return Next::end;
      }
      pos_ += left;
      continue;
    }
    if (pos_ == data_.size()) return in_record ? Next::torn : Next::end;
    // Zeros to the end of the file: space the file system allocated but a crash left unwritten.
    if (data_.find_first_not_of('\0', pos_) == std::string_view::npos) return Next::torn;
    if (data_.size() - pos_ < kHeaderSize) return Next::torn;
    const auto* h = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
    std::uint32_t stored =
        h[0] | (h[1] << 8) | (h[2] << 16) | (static_cast<std::uint32_t>(h[3]) << 24);
    std::size_t len = h[4] | (h[5] << 8);
    unsigned type = h[6];
    if (kHeaderSize + len > left) {
      why = "a frame at offset " + std::to_string(pos_) + " crosses its block";
      return Next::corrupt;
    }
    if (pos_ + kHeaderSize + len > data_.size()) return Next::torn;
    std::string_view payload = data_.substr(pos_ + kHeaderSize, len);
    char t = static_cast<char>(type);
    std::uint32_t crc = crc32c(payload, crc32c(std::string_view(&t, 1)));
    if (unmask_crc(stored) != crc) {
      // A bad checksum on the file's last frame is what a torn write looks like.
      if (pos_ + kHeaderSize + len == data_.size()) return Next::torn;
      why = "checksum mismatch in the frame at offset " + std::to_string(pos_);
      return Next::corrupt;
    }
    if (!in_record) record_offset_ = pos_;
    pos_ += kHeaderSize + len;
    switch (static_cast<FrameType>(type)) {
      case FrameType::full:
        if (in_record) break;
        record.assign(payload);
        return Next::record;
      case FrameType::first:
        if (in_record) break;
        record.assign(payload);
        in_record = true;
        continue;
      case FrameType::middle:
        if (!in_record) break;
        record.append(payload);
        continue;
      case FrameType::last:
        if (!in_record) break;
        record.append(payload);
        return Next::record;
    }
    why = "a frame of type " + std::to_string(type) + " out of sequence at offset " +
          std::to_string(pos_ - kHeaderSize - len);
    return Next::corrupt;
  }
}

}  // namespace sluice::audit
