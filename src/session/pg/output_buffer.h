// An ordered list of byte segments to write to one peer, without copying what passes through.
//
// A segment either points into the caller's input buffer (bytes relayed untouched) or into
// storage owned by the OutputBuffer (bytes the gateway wrote or rewrote). Adjacent segments
// merge, so a run of untouched messages becomes one segment and one write. Input views stay
// valid only while the caller keeps its input unchanged, i.e. until the write completes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace sluice::session::pg {

class OutputBuffer {
 public:
  void pass(const std::uint8_t* p, std::size_t n);
  // Appends gateway-written bytes. `write` receives the owned string to append to.
  template <class F>
  void own(F&& write) {
    std::size_t before = owned_.size();
    write(owned_);
    record_owned(before, owned_.size() - before);
  }
  void own_bytes(std::string_view bytes) {
    own([&](std::string& s) { s.append(bytes); });
  }

  bool empty() const { return segs_.empty(); }
  std::size_t size() const;
  // Resolves owned offsets to addresses. Valid until the next change.
  const std::vector<Bytes>& segments();
  void clear();

 private:
  struct Seg {
    bool owned;
    const std::uint8_t* ptr;  // when !owned
    std::size_t off;          // when owned
    std::size_t len;
  };
  void record_owned(std::size_t off, std::size_t len);

  std::vector<Seg> segs_;
  std::string owned_;
  std::vector<Bytes> resolved_;
};

}  // namespace sluice::session::pg
