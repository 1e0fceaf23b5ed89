// `sluice apikeys create|list|revoke`: API keys for service agents, managed by the local
// administrator through the state store. The key is printed once, as the last line.
#include <boost/json.hpp>
#include <iostream>

#include "admin/json.h"
#include "app/cli_common.h"
#include "core/time.h"
#include "identity/api_keys.h"

namespace sluice::app::cli {

namespace json = boost::json;

int cmd_apikeys(const Args& a) {
  if (a.words.size() < 2) return fail("apikeys: expected create, list or revoke");
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  auto store = open_store(*cfg);
  if (!store) return fail(store.status().message());
  identity::ApiKeyService keys(**store);
  const std::string& verb = a.words[1];
  if (verb == "create") {
    std::string who = a.get("identity").value_or("");
    if (who.empty()) return fail("apikeys create: --identity NAME is required");
    for (const auto& issuer : cfg->identity.oidc)
      if (!issuer.identity_prefix.empty() && who.rfind(issuer.identity_prefix, 0) == 0)
        return fail("apikeys create: identity " + who + " is in the namespace of OIDC issuer " +
                    issuer.issuer + " (prefix " + issuer.identity_prefix +
                    "); choose a name outside it");
    auto roles = split_csv(a.get("roles").value_or(""));
    if (roles.empty())
      return fail("apikeys create: --roles a,b is required (the roles of " + cfg->source.string() +
                  " the key stands for)");
    for (const auto& r : roles)
      if (!cfg->roles->find(r)) {
        std::string names;
        for (const auto& role : cfg->roles->list) names += (names.empty() ? "" : ", ") + role.name;
        return fail("apikeys create: no role named '" + r + "' in " + cfg->source.string() +
                    " (configured: " + (names.empty() ? "none" : names) + ")");
      }
    std::int64_t ttl_ms = 0;
    if (auto ttl = a.get("ttl")) {
      auto d = config::parse_duration(*ttl);
      if (!d || d->count() <= 0) return fail("apikeys create: --ttl must be a duration (90d)");
      ttl_ms = d->count();
    }
    auto created = keys.create(who, roles, ttl_ms, local_actor(a));
    if (!created) return fail("apikeys create: " + created.status().message());
    if (a.has("json")) {
      json::object o = admin::api_key_to_json(created->record);
      o["key"] = created->key;
      std::cout << json::serialize(o) << "\n";
      return 0;
    }
    std::printf("API key %s for %s (roles %s)%s; it is shown once:\n", created->record.id.c_str(),
                who.c_str(), a.get("roles")->c_str(),
                created->record.expires_at
                    ? (", valid until " + format_utc(created->record.expires_at)).c_str()
                    : "");
    std::printf("%s\n", created->key.c_str());
    return 0;
  }
  if (verb == "list") {
    auto list = (*store)->list_api_keys(1000);
    if (!list) return fail(list.status().message());
    if (a.has("json")) {
      json::array arr;
      for (const auto& k : *list) arr.push_back(admin::api_key_to_json(k));
      std::cout << json::serialize(arr) << "\n";
      return 0;
    }
    std::printf("%-20s %-20s %-25s %-25s %s\n", "ID", "IDENTITY", "ROLES", "CREATED", "STATE");
    for (const auto& k : *list) {
      std::string roles;
      for (const auto& r : k.roles) roles += (roles.empty() ? "" : ",") + r;
      std::string state = k.revoked_at ? "revoked " + format_utc(k.revoked_at)
                          : (k.expires_at && k.expires_at <= now_ms()) ? "expired"
                                                                       : "active";
      std::printf("%-20s %-20s %-25s %-25s %s\n", k.id.c_str(), k.identity.c_str(), roles.c_str(),
                  format_utc(k.created_at).c_str(), state.c_str());
    }
    return 0;
  }
  if (verb == "revoke") {
    if (a.words.size() < 3) return fail("apikeys revoke: expected a key ID (see apikeys list)");
    auto k = keys.revoke(a.words[2], local_actor(a));
    if (!k) return fail("apikeys revoke: " + k.status().message());
    std::printf("API key %s revoked\n", k->id.c_str());
    return 0;
  }
  return fail("apikeys: unknown command '" + verb + "' (expected create, list or revoke)");
}

}  // namespace sluice::app::cli
