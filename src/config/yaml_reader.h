// YamlReader: typed access to a YAML tree that collects every error with its file, line,
// column and key path, for configuration and the policy files it includes.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {

// Walks the YAML tree, collecting every error with its line and key path.
class Reader {
 public:
  explicit Reader(std::filesystem::path source) : source_(std::move(source)) {}

  void fail(const YAML::Node& at, const std::string& path, const std::string& what) {
    std::ostringstream out;
    out << source_.string();
    if (at.IsDefined() && at.Mark().line >= 0)
      out << ":" << at.Mark().line + 1 << ":" << at.Mark().column + 1;
    out << ": " << path << ": " << what;
    errors_.push_back(out.str());
  }
  void fail_top(const std::string& what) { errors_.push_back(source_.string() + ": " + what); }

  bool ok() const { return errors_.empty(); }
  std::string joined() const {
    std::string s;
    for (const auto& e : errors_) s += (s.empty() ? "" : "\n") + e;
    return s;
  }

  // Reports keys of `map` that are not in `allowed`.
  void only_keys(const YAML::Node& map, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(kv.first, join(path, key), "unknown key; expected one of: " + list);
      }
    }
  }

  bool is_map(const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) return true;
    fail(n, path, "expected a mapping of keys to values");
    return false;
  }

  std::optional<std::string> string(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      fail(n, path, "expected a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // A string or a list of strings.
  std::optional<std::vector<std::string>> string_list(const YAML::Node& n,
                                                      const std::string& path) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return out;
    }
    if (n.IsSequence()) {
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (!n[i].IsScalar()) {
          fail(n[i], path + "[" + std::to_string(i) + "]", "expected a string");
          return std::nullopt;
        }
        out.push_back(n[i].Scalar());
      }
      return out;
    }
    fail(n, path, "expected a string or a list of strings");
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(const YAML::Node& n, const std::string& path, std::int64_t lo,
                                      std::int64_t hi) {
    std::int64_t v = 0;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc{} && end == s.data() + s.size() && v >= lo && v <= hi) return v;
    }
    fail(n, path,
         "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
             ", got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true") return true;
      if (s == "false") return false;
    }
    fail(n, path, "expected true or false, got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<Duration> duration(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (auto d = parse_duration(n.Scalar())) return d;
    }
    fail(n, path,
         "expected a duration such as 500ms, 30s, 15m, 2h or 1d, got '" + scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<std::uint32_t> size(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      std::uint64_t mult = 1;
      for (auto [suffix, m] :
           {std::pair{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}) {
        std::string_view sv(s);
        if (sv.size() > 3 && sv.substr(sv.size() - 3) == suffix) {
          mult = m;
          s.resize(s.size() - 3);
          break;
        }
      }
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc{} && end == s.data() + s.size() && v > 0 && v * mult <= (1ull << 30))
        return static_cast<std::uint32_t>(v * mult);
    }
    fail(n, path,
         "expected a size in bytes up to 1GiB, such as 10000, 64KiB or 16MiB, got '" +
             scalar_text(n) + "'");
    return std::nullopt;
  }

  std::optional<Endpoint> endpoint(const YAML::Node& n, const std::string& path) {
    auto s = string(n, path);
    if (!s) return std::nullopt;
    auto colon = s->rfind(':');
    Endpoint e;
    int port = 0;
    if (colon != std::string::npos && colon > 0) {
      e.host = s->substr(0, colon);
      if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']')
        e.host = e.host.substr(1, e.host.size() - 2);
      auto ps = std::string_view(*s).substr(colon + 1);
      auto [end, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
      if (ec == std::errc{} && end == ps.data() + ps.size() && port >= 0 && port <= 65535) {
        e.port = static_cast<std::uint16_t>(port);
        return e;
      }
    }
    fail(n, path, "expected host:port such as 127.0.0.1:15432, got '" + *s + "'");
    return std::nullopt;
  }

  // ${env:VAR} or ${file:PATH}; anything else is taken literally.
  std::optional<Secret> secret(const YAML::Node& n, const std::string& path) {
    auto s = string(n, path);
    if (!s) return std::nullopt;
    std::string_view v(*s);
    if (v.size() > 3 && v.substr(0, 2) == "${" && v.back() == '}') {
      std::string_view ref = v.substr(2, v.size() - 3);
      if (ref.substr(0, 4) == "env:") {
        std::string var(ref.substr(4));
        const char* value = std::getenv(var.c_str());
        if (value == nullptr) {
          fail(n, path, "environment variable " + var + " is not set");
          return std::nullopt;
        }
        return Secret(value);
      }
      if (ref.substr(0, 5) == "file:") {
        std::filesystem::path p = resolve(std::string(ref.substr(5)));
        std::ifstream in(p, std::ios::binary);
        if (!in) {
          fail(n, path, "cannot read secret file " + p.string());
          return std::nullopt;
        }
        std::string content((std::istreambuf_iterator<char>(in)), {});
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
          content.pop_back();
        return Secret(std::move(content));
      }
      fail(n, path, "unknown secret reference; use ${env:VAR} or ${file:PATH}");
      return std::nullopt;
    }
    return Secret(*s);
  }

  std::filesystem::path resolve(const std::string& p) const {
    std::filesystem::path path(p);
    if (path.is_absolute()) return path;
    return (source_.parent_path() / path).lexically_normal();
  }

  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

 private:
  static std::string scalar_text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    return "nothing";
  }

  std::filesystem::path source_;
  std::vector<std::string> errors_;
};

}  // namespace sluice::config
