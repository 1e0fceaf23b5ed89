// Process-wide logging to stderr, one line per event.
//
// Thread-safe. Lines look like `2026-12-04T16:20:00.123Z INFO session: text`. Callers must
// never pass secrets (tokens, passwords, keys): there is no redaction layer behind this.
// Logging is for operators; the audit log is the record of what agents did.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace sluice::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view component, std::string_view text);

template <class... Args>
void emit(Level lvl, std::string_view component, const Args&... args) {
  if (lvl < level()) return;
  std::ostringstream out;
  (out << ... << args);
  write(lvl, component, out.str());
}

template <class... Args>
void debug(std::string_view c, const Args&... a) {
  emit(Level::debug, c, a...);
}
template <class... Args>
void info(std::string_view c, const Args&... a) {
  emit(Level::info, c, a...);
}
template <class... Args>
void warn(std::string_view c, const Args&... a) {
  emit(Level::warn, c, a...);
}
template <class... Args>
void error(std::string_view c, const Args&... a) {
  emit(Level::error, c, a...);
}

}  // namespace sluice::log
