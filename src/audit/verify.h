// Verification of an audit log directory: frames, the hash chain, checkpoint signatures,
// segment order and seals, retention records, and (when given) the state store's witness of
// the last checkpoint. Stops at the first failure and names it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit/file.h"
#include "audit/format.h"
#include "audit/signer.h"

namespace sluice::audit {

// The last checkpoint the gateway recorded outside the log (in the state store).
struct Witness {
  std::uint64_t seq = 0;
  Hash hash{};
};

struct VerifyReport {
  bool ok = true;
  std::string error;  // the first failure: where, and what
  std::uint64_t segments = 0;
  std::uint64_t records = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t last_signed_seq = 0;
  bool sealed = false;  // the last segment ends with a final checkpoint
  std::vector<std::string> notes;
};

VerifyReport verify_log(const std::string& dir, const Verifier& keys,
                        const std::optional<Witness>& witness, FileSystem& fs = posix_fs());

// Every readable record in order, without verification (replay and export; run verify for
// integrity). `fn` returns false to stop.
Status scan_log(const std::string& dir, FileSystem& fs,
                const std::function<bool(const Record&)>& fn);

}  // namespace sluice::audit
