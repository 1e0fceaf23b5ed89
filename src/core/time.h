// Wall-clock helpers. Grants and audit records use milliseconds since the Unix epoch.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

std::int64_t now_ms();
// "2026-12-04T16:20:00.123Z"
std::string format_utc(std::int64_t ms);

}  // namespace sluice
