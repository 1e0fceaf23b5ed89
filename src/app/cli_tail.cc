// `sluice sessions tail SESSION --server URL`: follows a running session through the admin
// API's live tail (GET /v1/sessions/{id}/events), printing each record as a JSON line until
// the session ends (or at once, with --no-follow).
#include <iostream>

#include "app/cli_api_client.h"

namespace sluice::app::cli {

int cmd_sessions_tail(const Args& a) {
  if (a.words.size() < 3) return fail("sessions tail: expected a session id");
  auto client = api_client(a, "sessions tail");
  if (!client) return fail(client.status().message());
  const std::string& id = a.words[2];
  bool follow = !a.has("no-follow");
  std::uint64_t after = 0;
  for (;;) {
    auto got = client->call("GET", "/v1/sessions/" + id + "/events?after=" + std::to_string(after) +
                                       "&wait=" + (follow ? "25" : "0"));
    if (!got) return fail("sessions tail: " + got.status().message());
    if (got->first != 200) return api_error("sessions tail", got->first, got->second);
    const auto* o = got->second.if_object();
    if (!o) return fail("sessions tail: unexpected answer");
    if (const auto* ev = o->if_contains("events"); ev && ev->is_array())
      for (const auto& e : ev->as_array()) std::cout << boost::json::serialize(e) << "\n";
    std::cout.flush();
    if (const auto* n = o->if_contains("next"); n && n->is_uint64()) after = n->as_uint64();
    if (const auto* n = o->if_contains("next"); n && n->is_int64()) after = n->as_int64();
    const auto* ended = o->if_contains("ended");
    if (!follow || (ended && ended->is_bool() && ended->as_bool())) return 0;
  }
}

}  // namespace sluice::app::cli
