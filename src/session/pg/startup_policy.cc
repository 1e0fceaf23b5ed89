#include "session/pg/startup_policy.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "identity/token.h"

namespace sluice::session::pg {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// DateStyle is "output[, order]" in either order; only ISO output keeps dates unambiguous
// for the gateway and the audit log.
bool iso_datestyle(std::string_view v) {
  bool iso = false;
  while (!v.empty()) {
    auto comma = v.find(',');
    std::string part = lower(trim(v.substr(0, comma)));
    if (part == "iso") {
      iso = true;
    } else if (part != "mdy" && part != "dmy" && part != "ymd" && part != "us" && part != "euro" &&
               part != "european" && part != "noneuro" && part != "noneuropean") {
      return false;
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return iso;
}

bool valid_timezone(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '+' ||
           c == '-' || c == ':' || c == '.';
  });
}

std::string sanitise_application(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (out.size() >= 48) break;
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return out;
}

Status refuse(std::string message) {
  return error(Code::permission_denied, std::move(message));
}

}  // namespace

Result<StartupRequest> check_startup(const sluice::pg::StartupParams& params) {
  StartupRequest r;
  for (const auto& [name, value] : params.params) {
    std::string n(name);
    if (n == "user") {
      r.user = std::string(value);
    } else if (n == "database") {
      r.database = std::string(value);
    } else if (n.rfind("_pq_.", 0) == 0) {
      r.unrecognized_options.push_back(n);
    } else if (n == "application_name") {
      r.application = sanitise_application(value);
    } else if (n == "client_encoding") {
      std::string v = lower(trim(value));
      if (v != "utf8" && v != "utf-8" && v != "unicode")
        return refuse("client_encoding must be UTF8, got \"" + std::string(value) +
                      "\"; set PGCLIENTENCODING=UTF8 or your driver's encoding option");
      r.settings.emplace_back("client_encoding", "UTF8");
    } else if (n == "DateStyle" || n == "datestyle") {
      if (!iso_datestyle(value))
        return refuse("DateStyle must use ISO output (such as \"ISO, MDY\"), got \"" +
                      std::string(value) + "\"");
      r.settings.emplace_back("DateStyle", std::string(value));
    } else if (n == "TimeZone" || n == "timezone") {
      if (!valid_timezone(value))
        return refuse("TimeZone \"" + std::string(value) + "\" is not a valid time zone name");
      r.settings.emplace_back("TimeZone", std::string(value));
    } else if (n == "IntervalStyle" || n == "intervalstyle") {
      std::string v = lower(trim(value));
      if (v != "postgres" && v != "postgres_verbose" && v != "sql_standard" && v != "iso_8601")
        return refuse(
            "IntervalStyle must be postgres, postgres_verbose, sql_standard or "
            "iso_8601, got \"" +
            std::string(value) + "\"");
      r.settings.emplace_back("IntervalStyle", v);
    } else if (n == "extra_float_digits") {
      int d = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
      if (ec != std::errc{} || end != value.data() + value.size() || d < -15 || d > 3)
        return refuse("extra_float_digits must be an integer from -15 to 3");
      r.settings.emplace_back("extra_float_digits", std::to_string(d));
    } else if (n == "options" && value.empty()) {
      // Some drivers send an empty options string: nothing to apply.
    } else if (n == "replication") {
      return refuse("replication connections are not allowed through the gateway");
    } else {
      return refuse("the startup parameter \"" + n +
                    "\" is not allowed (allowed: application_name, client_encoding, DateStyle, "
                    "TimeZone, IntervalStyle, extra_float_digits); the gateway pins the "
                    "session's settings");
    }
  }
  if (r.user.empty())
    return error(Code::invalid_argument,
                 "no user name in the startup packet; connect as postgresql://IDENTITY@HOST:PORT/"
                 "CONNECTION");
  if (!identity::valid_identity(r.user))
    return error(Code::invalid_argument,
                 "the user name must be your identity: 1-128 printable characters without "
                 "spaces");
  if (r.database.empty()) r.database = r.user;  // as PostgreSQL does
  return r;
}

std::string upstream_application_name(std::string_view identity, std::string_view application) {
  std::string s(identity);
  if (!application.empty()) s.append("/").append(application);
  if (s.size() > 63) s.resize(63);
  return s;
}

}  // namespace sluice::session::pg
