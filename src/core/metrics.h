// Metrics: process-wide counters and gauges, rendered in the Prometheus text format at the
// admin listener's /metrics.
//
// Counters are plain atomics that any thread bumps without locks (relaxed: they are
// statistics, not synchronisation). Gauges are read by a callback at render time, so the
// owner of the value (the session registry, say) keeps it. Names follow Prometheus
// conventions: `sluice_` prefix, `_total` for counters, base units.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::metrics {

class Counter {
 public:
  void add(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// The counters the gateway keeps. One instance per process (registry()).
struct Counters {
  Counter sessions_started;
  Counter sessions_refused;  // failed logins and refused connections
  Counter statements_allowed;
  Counter statements_refused;
  Counter results_capped;
  Counter grants_requested;
  Counter grants_approved;
  Counter grants_denied;
  Counter grants_revoked;
  Counter tokens_fetched;
  Counter jwt_accepted;
  Counter jwt_rejected;
  Counter jwks_fetches;
  Counter jwks_fetch_failures;
  Counter api_key_accepted;
  Counter api_key_rejected;
  Counter admin_requests;
  Counter admin_errors;  // 4xx and 5xx answers
};

Counters& counters();

// A gauge read when /metrics is rendered.
void register_gauge(std::string name, std::string help, std::function<double()> read);

// The Prometheus text exposition of every counter and gauge.
std::string render();

}  // namespace sluice::metrics
