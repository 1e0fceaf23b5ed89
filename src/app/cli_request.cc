// `sluice grants request`: what an agent wrapper calls. Asks the admin API for a grant, waits
// while a human decides, fetches the token (once) and prints it alone on stdout, so that
// `PGPASSWORD=$(sluice grants request ...)` works. Everything else goes to stderr.
//
// Exit codes: 0 token printed, 2 usage or transport error, 3 denied (or revoked before the
// token was fetched), 4 the wait ended with the request still pending.
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "app/cli_api_client.h"

namespace sluice::app::cli {
namespace {

namespace json = boost::json;

constexpr int kExitDenied = 3;
constexpr int kExitUndecided = 4;

}  // namespace

int cmd_grants_request(const Args& a) {
  auto client = api_client(a, "grants request");
  if (!client) return fail(client.status().message());
  Client& c = *client;

  json::object req;
  auto connection = a.get("connection");
  if (!connection) return fail("grants request: --connection CONN is required");
  req["connection"] = *connection;
  auto ttl = a.get("ttl");
  if (!ttl) return fail("grants request: --ttl DURATION is required (e.g. 15m)");
  req["ttl"] = *ttl;
  json::object scope;
  scope["access"] = a.get("access").value_or("read");
  json::array tables, columns;
  for (const auto& t : split_csv(a.get("tables").value_or(""))) tables.emplace_back(t);
  for (const auto& col : split_csv(a.get("columns").value_or(""))) columns.emplace_back(col);
  scope["tables"] = std::move(tables);
  scope["columns"] = std::move(columns);
  req["scope"] = std::move(scope);
  if (auto reason = a.get("reason")) req["reason"] = *reason;
  if (auto role = a.get("role")) req["role"] = *role;
  auto wait = config::parse_duration(a.get("wait").value_or("10m"));
  if (!wait) return fail("grants request: --wait must be a duration such as 10m");
  auto poll = config::parse_duration(a.get("poll").value_or("1s"));
  if (!poll || poll->count() <= 0) return fail("grants request: --poll must be a duration");

  auto created = c.call("POST", "/v1/grants", json::serialize(req));
  if (!created) return fail("grants request: " + created.status().message());
  auto [status, body] = std::move(*created);
  if (status != 201) return api_error("grants request", status, body);
  std::string id = field(body, "id");
  std::string state = field(body, "status");
  std::fprintf(stderr, "sluice: grant %s is %s%s\n", id.c_str(), state.c_str(),
               field(body, "decision_reason").empty()
                   ? ""
                   : (" (" + field(body, "decision_reason") + ")").c_str());

  auto deadline = std::chrono::steady_clock::now() + *wait;
  while (state == "pending") {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr,
                   "sluice: grant %s is still pending after %s; ask a reviewer, then run this "
                   "again or fetch it: GET %s/v1/grants/%s/token\n",
                   id.c_str(), a.get("wait").value_or("10m").c_str(), c.base.c_str(), id.c_str());
      return kExitUndecided;
    }
    std::this_thread::sleep_for(*poll);
    auto got = c.call("GET", "/v1/grants/" + id);
    if (!got) return fail("grants request: " + got.status().message());
    if (got->first != 200) return api_error("grants request", got->first, got->second);
    state = field(got->second, "status");
    if (state != "pending")
      std::fprintf(stderr, "sluice: grant %s is %s%s%s\n", id.c_str(), state.c_str(),
                   field(got->second, "decided_by").empty() ? "" : " by ",
                   field(got->second, "decided_by").c_str());
    body = std::move(got->second);
  }
  if (state != "approved") {
    std::string reason = field(body, "decision_reason");
    std::fprintf(stderr, "sluice: grant %s was %s%s\n", id.c_str(), state.c_str(),
                 reason.empty() ? "" : (": " + reason).c_str());
    return kExitDenied;
  }
  auto token = c.call("GET", "/v1/grants/" + id + "/token");
  if (!token) return fail("grants request: " + token.status().message());
  if (token->first != 200) return api_error("fetching the token", token->first, token->second);
  std::string url = field(token->second, "postgres_url");
  std::fprintf(stderr, "sluice: connect until %s%s%s with this token as the password\n",
               field(token->second, "expires_at").c_str(), url.empty() ? "" : " to ", url.c_str());
  std::printf("%s\n", field(token->second, "token").c_str());
  return 0;
}

}  // namespace sluice::app::cli
