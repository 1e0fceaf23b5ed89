#include "session/auth_throttle.h"

#include <algorithm>
#include <cmath>

namespace sluice::session {

AuthThrottle::Bucket& AuthThrottle::bucket(std::string_view address, std::int64_t now_ms) {
  auto [it, inserted] =
      buckets_.try_emplace(std::string(address), Bucket{double(per_minute_), now_ms});
  Bucket& b = it->second;
  if (!inserted) {
    double refill = double(now_ms - b.at_ms) * per_minute_ / 60000.0;
    b.tokens = std::min(double(per_minute_), b.tokens + std::max(0.0, refill));
    b.at_ms = now_ms;
  }
  return b;
}

void AuthThrottle::prune(std::int64_t now_ms) {
  if (now_ms - last_prune_ms_ < 60000) return;
  last_prune_ms_ = now_ms;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    // A bucket that would be full again carries no information.
    if (now_ms - it->second.at_ms > 60000) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

bool AuthThrottle::allow(std::string_view address, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  prune(now_ms);
  auto it = buckets_.find(std::string(address));
  if (it == buckets_.end()) return true;
  return bucket(address, now_ms).tokens >= 1.0;
}

void AuthThrottle::record_failure(std::string_view address, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  Bucket& b = bucket(address, now_ms);
  b.tokens = std::max(0.0, b.tokens - 1.0);
}

int AuthThrottle::retry_after_seconds(std::string_view address, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  Bucket& b = bucket(address, now_ms);
  if (b.tokens >= 1.0) return 0;
  return static_cast<int>(std::ceil((1.0 - b.tokens) * 60.0 / per_minute_));
}

}  // namespace sluice::session
