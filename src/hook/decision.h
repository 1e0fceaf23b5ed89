// The outcome of running one statement through the stages: allow, refuse, or hold; plus the
// caps and result observers that apply if it runs.
//
// A Decision is built on the session's thread, consumed by the protocol adapter, and not
// shared afterwards. A Hold may complete on any thread (a reviewer acts on another node).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sluice::hook {

class ResultObserver;

enum class Verdict : std::uint8_t { allow, refuse, hold };

// What the client is told when a statement is refused. Messages begin with "sluice: " and
// say which rule fired and how to get access (docs/design/error_codes.md).
struct Refusal {
  std::string sqlstate = "42501";
  std::string message;
  std::string detail;
  std::string hint;
  std::string rule;
};

// Caps on what a statement may return. Zero means no cap. The adapter enforces them: rows
// over the cap never reach the client, the upstream statement is cancelled, and the client
// gets an error naming `rule`.
struct ResultCaps {
  std::uint64_t max_rows = 0;
  std::uint64_t max_bytes = 0;
  std::string rule;
  bool any() const { return max_rows != 0 || max_bytes != 0; }
  // Tightens this cap with another: the smaller non-zero limit wins.
  void tighten(const ResultCaps& other);
};

struct Decision;

// A statement waiting for an outside event (a reviewer's approval). `wait` calls `done` exactly
// once, from any thread, with the final decision (allow or refuse). `cancel` tells the hold
// that nobody is waiting any more (the session ended); `done` may then never be called.
class Hold {
 public:
  virtual ~Hold() = default;
  virtual void wait(std::function<void(Decision)> done) = 0;
  virtual void cancel() = 0;
  // Told to the client as a NOTICE while it waits (e.g. the approval id and how to approve).
  virtual std::string notice() const = 0;
};

struct Decision {
  Verdict verdict = Verdict::allow;
  std::string rule;            // the rule that decided, empty for the default
  Refusal refusal;             // when verdict == refuse
  std::shared_ptr<Hold> hold;  // when verdict == hold
  ResultCaps caps;
  // Run on each result in order: transforming observers (masking) first, then observers that
  // must see what the client sees (audit).
  std::vector<std::shared_ptr<ResultObserver>> observers;
  // Forward the statement only once the audit log has made this ticket durable (0: no wait).
  // The adapter waits before writing to the server, so nothing runs unrecorded.
  std::uint64_t durable_after = 0;

  static Decision refuse(Refusal r) {
    Decision d;
    d.verdict = Verdict::refuse;
    d.rule = r.rule;
    d.refusal = std::move(r);
    return d;
  }
};

inline void ResultCaps::tighten(const ResultCaps& o) {
  auto pick = [](std::uint64_t a, std::uint64_t b) {
    if (a == 0) return b;
    if (b == 0) return a;
    return a < b ? a : b;
  };
  bool changes = (o.max_rows && (!max_rows || o.max_rows < max_rows)) ||
                 (o.max_bytes && (!max_bytes || o.max_bytes < max_bytes));
  max_rows = pick(max_rows, o.max_rows);
  max_bytes = pick(max_bytes, o.max_bytes);
  if (changes) rule = o.rule;
}

}  // namespace sluice::hook
