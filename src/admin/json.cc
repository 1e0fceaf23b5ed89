#include "admin/json.h"

#include "core/time.h"

namespace sluice::admin {

namespace json = boost::json;

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object grant_to_json(const store::GrantRecord& g, store::TimeMs now) {
  json::object o;
  o["id"] = g.id;
  o["status"] = std::string(store::to_string(g.status));
  o["identity"] = g.identity;
  o["connection"] = g.connection;
  json::object scope;
  scope["access"] = g.access;
  scope["tables"] = to_json(g.tables);
  scope["columns"] = to_json(g.columns);
  o["scope"] = std::move(scope);
  o["access"] = g.access;
  o["tables"] = to_json(g.tables);
  o["columns"] = to_json(g.columns);
  o["ttl_seconds"] = g.ttl_ms / 1000;
  o["role"] = g.role;
  o["reason"] = g.reason;
  o["requested_by"] = g.requested_by;
  o["created_at"] = format_utc(g.created_at);
  if (!g.decided_by.empty()) o["decided_by"] = g.decided_by;
  if (g.decided_at) o["decided_at"] = format_utc(g.decided_at);
  if (!g.decision_reason.empty()) o["decision_reason"] = g.decision_reason;
  if (g.starts_at) o["starts_at"] = format_utc(g.starts_at);
  if (g.expires_at) o["expires_at"] = format_utc(g.expires_at);
  if (g.revoked_at) {
    o["revoked_at"] = format_utc(g.revoked_at);
    o["revoked_by"] = g.revoked_by;
  }
  o["token_fetched"] = g.token_issued_at != 0;
  o["live"] = g.live(now);
  return o;
}

json::object session_to_json(const store::SessionRecord& s) {
  json::object o;
  o["id"] = s.id;
  o["node"] = s.node;
  o["grant_id"] = s.grant_id;
  o["identity"] = s.identity;
  o["connection"] = s.connection;
  o["protocol"] = s.protocol;
  o["client_address"] = s.client_address;
  o["application"] = s.application;
  o["tls"] = s.tls;
  o["started_at"] = format_utc(s.started_at);
  if (s.ended_at) {
    o["ended_at"] = format_utc(s.ended_at);
    o["end_reason"] = s.end_reason;
  }
  return o;
}

json::object api_key_to_json(const store::ApiKeyRecord& k) {
  json::object o;
  o["id"] = k.id;
  o["identity"] = k.identity;
  o["roles"] = to_json(k.roles);
  o["created_by"] = k.created_by;
  o["created_at"] = format_utc(k.created_at);
  if (k.expires_at) o["expires_at"] = format_utc(k.expires_at);
  if (k.revoked_at) {
    o["revoked_at"] = format_utc(k.revoked_at);
    o["revoked_by"] = k.revoked_by;
  }
  return o;
}

}  // namespace sluice::admin
