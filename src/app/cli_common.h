// What the CLI's commands share: argument parsing, errors, loading the config and the store.
// Each command group lives in its own file (cli_*.cc) and is dispatched from cli.cc.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "store/state_store.h"

namespace sluice::app::cli {

// Flags (--name value, --name=value, -c value) and positional words.
struct Args {
  std::vector<std::string> words;
  std::map<std::string, std::string> flags;
  std::vector<std::string> errors;

  static Args parse(const std::vector<std::string>& in) {
    static const std::vector<std::string> kBoolean = {"json", "live",    "help",
                                                      "all",  "version", "no-follow"};
    Args a;
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string& s = in[i];
      if (s == "-c") {
        if (i + 1 >= in.size())
          a.errors.push_back("-c needs a file");
        else
          a.flags["config"] = in[++i];
      } else if (s.rfind("--", 0) == 0 && s.size() > 2) {
        std::string name = s.substr(2), value;
        auto eq = name.find('=');
        if (eq != std::string::npos) {
          value = name.substr(eq + 1);
          name = name.substr(0, eq);
        } else if (std::find(kBoolean.begin(), kBoolean.end(), name) != kBoolean.end()) {
          value = "true";
        } else if (i + 1 < in.size()) {
          value = in[++i];
        } else {
          a.errors.push_back("--" + name + " needs a value");
        }
        a.flags[name] = value;
      } else {
        a.words.push_back(s);
      }
    }
    return a;
  }
  std::optional<std::string> get(const std::string& k) const {
    auto it = flags.find(k);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
  bool has(const std::string& k) const { return flags.count(k) > 0; }
};

// A point in time for filters: an ISO-8601 UTC time (2026-12-04T10:00:00Z, or a date), or
// a duration meaning that long ago (2h). Milliseconds since the epoch.
inline std::optional<std::int64_t> parse_time_arg(const std::string& s) {
  if (auto d = config::parse_duration(s))
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() -
           d->count();
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) {
    tm = {};
    end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  }
  if (!end || (*end != '\0' && std::string_view(end) != "Z")) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

inline int fail(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\n", message.c_str());
  return 2;
}

inline std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    std::string part =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

inline std::string local_actor(const Args& a) {
  if (auto as = a.get("as")) return *as;
  const char* user = std::getenv("USER");
  return std::string("local-admin:") + (user && *user ? user : "unknown");
}

inline Result<config::Config> load(const Args& a) {
  auto path = a.get("config");
  if (!path) return error(Code::invalid_argument, "missing -c sluice.yaml");
  return config::load_config(*path);
}

inline Result<std::unique_ptr<store::StateStore>> open_store(const config::Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return error(Code::io_error, "data_dir " + c.data_dir.string() + ": " + ec.message());
  return store::open_sqlite_store((c.data_dir / "state.db").string());
}

// Command groups (argv words after the command name are in Args::words).
int cmd_grants(const Args& a);
int cmd_grants_request(const Args& a);
int cmd_apikeys(const Args& a);
int cmd_audit(const Args& a);
int cmd_replay_session(const Args& a);
int cmd_sessions_tail(const Args& a);

}  // namespace sluice::app::cli
