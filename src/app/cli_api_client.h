// The CLI's client of the admin API (docs/api.md): the credential from the environment or a
// file, and JSON calls. Used by `grants request` and `sessions tail`.
#pragma once

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "app/cli_common.h"
#include "net/http_client.h"

namespace sluice::app::cli {

inline Result<std::string> read_credential(const Args& a) {
  if (auto file = a.get("credential-file")) {
    std::ifstream in(*file);
    if (!in) return error(Code::not_found, "cannot read --credential-file " + *file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string c = ss.str();
    while (!c.empty() && (c.back() == '\n' || c.back() == '\r' || c.back() == ' ')) c.pop_back();
    if (c.empty()) return error(Code::invalid_argument, *file + " is empty");
    return c;
  }
  for (const char* var : {"SLUICE_API_KEY", "SLUICE_BEARER_TOKEN"})
    if (const char* v = std::getenv(var); v && *v) return std::string(v);
  return error(Code::invalid_argument,
               "no credential: set SLUICE_API_KEY (an slk_ key) or SLUICE_BEARER_TOKEN (an OIDC "
               "access token), or pass --credential-file FILE");
}

struct Client {
  std::string base;
  std::string credential;
  std::string ca_file;

  Result<std::pair<int, boost::json::value>> call(const std::string& method,
                                                  const std::string& path,
                                                  const std::string& body = {}) const {
    net::HttpRequest r;
    r.method = method;
    r.url = base + path;
    r.headers.emplace_back("Authorization", "Bearer " + credential);
    r.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) {
      r.body = body;
      r.content_type = "application/json";
    }
    r.ca_file = ca_file;
    auto res = net::http_fetch_blocking(std::move(r));
    if (!res) return res.status();
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(res->body, ec);
    if (ec)
      return error(Code::protocol_violation, method + " " + path + ": HTTP " +
                                                 std::to_string(res->status) +
                                                 " with a body that is not JSON");
    return std::make_pair(res->status, std::move(v));
  }
};

inline std::string field(const boost::json::value& v, std::string_view key) {
  const boost::json::object* o = v.if_object();
  if (!o) return {};
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

inline int api_error(const std::string& what, int status, const boost::json::value& v) {
  std::string reason = field(v, "reason");
  return fail(what + ": HTTP " + std::to_string(status) +
              (reason.empty() ? std::string() : ": " + reason));
}

// --server, --ca-file and the credential, or an error message.
inline Result<Client> api_client(const Args& a, const std::string& what) {
  auto server = a.get("server");
  if (!server || server->empty())
    return error(Code::invalid_argument,
                 what +
                     ": --server URL is required (the gateway's admin API, e.g. "
                     "https://sluice.example:8443)");
  Client c;
  c.base = *server;
  while (!c.base.empty() && c.base.back() == '/') c.base.pop_back();
  c.ca_file = a.get("ca-file").value_or("");
  auto cred = read_credential(a);
  if (!cred) return error(cred.status().code(), what + ": " + cred.status().message());
  c.credential = *cred;
  return c;
}

}  // namespace sluice::app::cli
