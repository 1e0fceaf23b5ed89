#include <boost/json.hpp>
#include <iostream>

#include "admin/json.h"
#include "app/cli_common.h"
#include "core/time.h"
#include "identity/grant_service.h"
#include "policy/roles.h"

namespace sluice::app::cli {

namespace json = boost::json;

int cmd_grants(const Args& a) {
  if (a.words.size() < 2)
    return fail("grants: expected list, revoke, approve, deny or request (see sluice help)");
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  auto store = open_store(*cfg);
  if (!store) return fail(store.status().message());
  const std::string& verb = a.words[1];
  if (verb == "list") {
    store::GrantFilter f;
    f.identity = a.get("identity");
    if (auto s = a.get("status")) {
      f.status = store::parse_grant_status(*s);
      if (!f.status)
        return fail("grants list: --status must be pending, approved, denied or revoked");
    }
    f.live_only = a.has("live");
    auto list = (*store)->list_grants(f);
    if (!list) return fail(list.status().message());
    if (a.has("json")) {
      json::array arr;
      for (const auto& g : *list) arr.push_back(admin::grant_to_json(g, now_ms()));
      std::cout << json::serialize(arr) << "\n";
      return 0;
    }
    std::printf("%-20s %-9s %-20s %-12s %-6s %-25s %s\n", "ID", "STATUS", "IDENTITY", "CONNECTION",
                "ACCESS", "EXPIRES", "SCOPE");
    for (const auto& g : *list) {
      std::string scope;
      for (const auto& t : g.tables) scope += (scope.empty() ? "" : ",") + t;
      std::string status(store::to_string(g.status));
      if (g.status == store::GrantStatus::approved && !g.live(now_ms())) status = "expired";
      std::printf("%-20s %-9s %-20s %-12s %-6s %-25s %s\n", g.id.c_str(), status.c_str(),
                  g.identity.c_str(), g.connection.c_str(), g.access.c_str(),
                  g.expires_at ? format_utc(g.expires_at).c_str() : "-",
                  scope.empty() ? "*" : scope.c_str());
    }
    return 0;
  }
  if (verb == "revoke") {
    if (a.words.size() < 3)
      return fail("grants revoke: expected a grant ID (see sluice grants list)");
    identity::GrantService grants(**store);
    auto g = grants.revoke(a.words[2], local_actor(a));
    if (!g) return fail("grants revoke: " + g.status().message());
    std::printf("grant %s revoked; its live sessions end within a second\n", g->id.c_str());
    return 0;
  }
  if (verb == "approve" || verb == "deny") {
    if (a.words.size() < 3)
      return fail("grants " + verb +
                  ": expected a grant ID (see sluice grants list --status pending)");
    policy::Principal reviewer;
    reviewer.kind = policy::Principal::Kind::local;
    reviewer.identity = local_actor(a);
    reviewer.issuer = "local";
    identity::GrantService grants(**store);
    Result<store::GrantRecord> g =
        verb == "approve"
            ? grants.approve(a.words[2], reviewer, *cfg->roles, true)
            : grants.deny(a.words[2], reviewer, a.get("reason").value_or(""), *cfg->roles, true);
    if (!g) return fail("grants " + verb + ": " + g.status().message());
    if (verb == "approve")
      std::printf("grant %s approved by %s: %s may fetch its token; the window ends at %s\n",
                  g->id.c_str(), reviewer.identity.c_str(), g->identity.c_str(),
                  format_utc(g->expires_at).c_str());
    else
      std::printf("grant %s denied by %s: %s\n", g->id.c_str(), reviewer.identity.c_str(),
                  g->decision_reason.c_str());
    return 0;
  }
  return fail("grants: unknown command '" + verb +
              "' (expected list, revoke, approve, deny or request)");
}

}  // namespace sluice::app::cli
