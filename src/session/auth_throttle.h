// AuthThrottle: limits failed logins per client address (SECURITY.md §6).
//
// A token bucket per address: each failed login takes a token, the bucket refills at
// `per_minute` tokens a minute, and an address with an empty bucket is refused before any
// work is done for it. Successful logins cost nothing. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::session {

class AuthThrottle {
 public:
  explicit AuthThrottle(std::uint32_t per_minute) : per_minute_(per_minute) {}

  // True when `address` may try to log in at `now_ms`.
  bool allow(std::string_view address, std::int64_t now_ms);
  void record_failure(std::string_view address, std::int64_t now_ms);
  // Seconds until `address` may try again (for the error message).
  int retry_after_seconds(std::string_view address, std::int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    std::int64_t at_ms;
  };
  Bucket& bucket(std::string_view address, std::int64_t now_ms);
  void prune(std::int64_t now_ms);

  std::uint32_t per_minute_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::int64_t last_prune_ms_ = 0;
};

}  // namespace sluice::session
