#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/time.h"

namespace sluice::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mu;

constexpr std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "DEBUG";
    case Level::info:
      return "INFO";
    case Level::warn:
      return "WARN";
    case Level::error:
      return "ERROR";
  }
  return "?";
}
}  // namespace

void set_level(Level l) {
  g_level.store(l, std::memory_order_relaxed);
}
Level level() {
  return g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view t, Level& out) {
  if (t == "debug")
    out = Level::debug;
  else if (t == "info")
    out = Level::info;
  else if (t == "warn")
    out = Level::warn;
  else if (t == "error")
    out = Level::error;
  else
    return false;
  return true;
}

void write(Level l, std::string_view component, std::string_view text) {
  std::string stamp = format_utc(now_ms());
  std::string line;
  line.reserve(64 + text.size());
  line.append(stamp).append(" ").append(level_name(l)).append(" ");
  line.append(component).append(": ");
  // Keep one event per line whatever the text holds.
  for (char c : text) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  line.push_back('\n');
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sluice::log
