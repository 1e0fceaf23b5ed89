#include "core/metrics.h"

#include <cstdio>

#include "core/version.h"

namespace sluice::metrics {
namespace {

struct Gauge {
  std::string name;
  std::string help;
  std::function<double()> read;
};

std::mutex& gauge_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<Gauge>& gauges() {
  static std::vector<Gauge> g;
  return g;
}

void counter(std::string& out, const char* name, const char* help, const Counter& c) {
  out += "# HELP ";
  out += name;
  out += " ";
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " counter\n";
  out += name;
  out += " ";
  out += std::to_string(c.value());
  out += "\n";
}

}  // namespace

Counters& counters() {
  static Counters c;
  return c;
}

void register_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(gauge_mu());
  for (auto& g : gauges())
    if (g.name == name) {
      g.help = std::move(help);
      g.read = std::move(read);
      return;
    }
  gauges().push_back({std::move(name), std::move(help), std::move(read)});
}

std::string render() {
  const Counters& c = counters();
  std::string out;
  out += "# HELP sluice_build_info The running version.\n# TYPE sluice_build_info gauge\n";
  out += "sluice_build_info{version=\"" + std::string(kVersion) + "\"} 1\n";
  counter(out, "sluice_sessions_started_total", "Client sessions that logged in.",
          c.sessions_started);
  counter(out, "sluice_sessions_refused_total", "Client connections refused before or at login.",
          c.sessions_refused);
  counter(out, "sluice_statements_allowed_total", "Statements forwarded to the database.",
          c.statements_allowed);
  counter(out, "sluice_statements_refused_total", "Statements refused by scope or policy.",
          c.statements_refused);
  counter(out, "sluice_results_capped_total", "Results cut at max_rows or max_bytes.",
          c.results_capped);
  counter(out, "sluice_grants_requested_total", "Grant requests received.", c.grants_requested);
  counter(out, "sluice_grants_approved_total", "Grants approved (automatically or by a reviewer).",
          c.grants_approved);
  counter(out, "sluice_grants_denied_total", "Grant requests denied.", c.grants_denied);
  counter(out, "sluice_grants_revoked_total", "Grants revoked.", c.grants_revoked);
  counter(out, "sluice_tokens_fetched_total", "JIT tokens handed out.", c.tokens_fetched);
  counter(out, "sluice_jwt_accepted_total", "OIDC access tokens accepted.", c.jwt_accepted);
  counter(out, "sluice_jwt_rejected_total", "OIDC access tokens rejected.", c.jwt_rejected);
  counter(out, "sluice_jwks_fetches_total", "JWKS and discovery fetches.", c.jwks_fetches);
  counter(out, "sluice_jwks_fetch_failures_total", "JWKS and discovery fetches that failed.",
          c.jwks_fetch_failures);
  counter(out, "sluice_api_key_accepted_total", "API keys accepted.", c.api_key_accepted);
  counter(out, "sluice_api_key_rejected_total", "API keys rejected.", c.api_key_rejected);
  counter(out, "sluice_admin_requests_total", "Admin API requests.", c.admin_requests);
  counter(out, "sluice_admin_errors_total", "Admin API requests answered with an error.",
          c.admin_errors);
  std::lock_guard lock(gauge_mu());
  for (const auto& g : gauges()) {
    char value[64];
    std::snprintf(value, sizeof value, "%.17g", g.read());
    out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " gauge\n" + g.name + " " +
           value + "\n";
  }
  return out;
}

}  // namespace sluice::metrics
