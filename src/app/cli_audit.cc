// `sluice audit verify|export|keygen|public-key` and `sluice replay SESSION`: reading the
// session recording (docs/design/audit_log_format.md).
#include <boost/json.hpp>
#include <iostream>

#include "app/audit_setup.h"
#include "app/cli_common.h"
#include "audit/audit_log.h"
#include "audit/event_body.h"
#include "audit/verify.h"
#include "core/time.h"

namespace sluice::app::cli {
namespace {

namespace json = boost::json;

std::string iso_us(std::int64_t us) {
  std::string s = format_utc(us / 1000);  // ...T12:00:00.123Z
  return s;
}

// The body as JSON (packed bodies rendered: audit/event_body.h); a body that is not JSON, or
// a packed one that cannot be read, as a string saying so.
json::value parse_body(const audit::Record& r) {
  auto text = audit::body_json(r.kind, r.body);
  if (!text) return json::value("unreadable body: " + text.status().message());
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec) return json::value(*text);
  return v;
}

std::string str(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  if (it == o.end()) return {};
  if (it->value().is_string()) return std::string(it->value().as_string());
  if (it->value().is_null()) return "NULL";
  if (it->value().is_object()) return json::serialize(it->value());
  return json::serialize(it->value());
}

std::string cell_text(const json::value& v) {
  if (v.is_null()) return "NULL";
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);  // {"base64": ...}
}

void print_table(const json::object& res) {
  std::vector<std::string> names;
  if (auto c = res.if_contains("columns"); c && c->is_array())
    for (const auto& col : c->as_array())
      if (col.is_object()) names.push_back(str(col.as_object(), "name"));
  std::vector<std::vector<std::string>> rows;
  if (auto d = res.if_contains("data"); d && d->is_array())
    for (const auto& row : d->as_array()) {
      std::vector<std::string> cells;
      if (row.is_array())
        for (const auto& cell : row.as_array()) cells.push_back(cell_text(cell));
      rows.push_back(std::move(cells));
    }
  if (names.empty()) return;
  std::vector<std::size_t> width(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) width[i] = names[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], std::min<std::size_t>(r[i].size(), 60));
  auto line = [&](const std::vector<std::string>& cells) {
    std::printf("        |");
    for (std::size_t i = 0; i < width.size(); ++i) {
      std::string_view c = i < cells.size() ? std::string_view(cells[i]) : std::string_view();
      bool cut = c.size() > 60;
      if (cut) c = c.substr(0, 57);
      std::printf(" %.*s%s%*s |", static_cast<int>(c.size()), c.data(), cut ? "..." : "",
                  static_cast<int>(width[i] - std::min(width[i], c.size() + (cut ? 3 : 0))), "");
    }
    std::printf("\n");
  };
  line(names);
  for (const auto& r : rows) line(r);
}

int cmd_replay(const Args& a, const config::Config& cfg) {
  if (a.words.size() < 2) return fail("replay: expected a session id (see sluice sessions list)");
  const std::string& id = a.words[1];
  std::vector<std::pair<audit::Record, json::value>> recs;
  Status st =
      audit::scan_log(cfg.audit.dir.string(), audit::posix_fs(), [&](const audit::Record& r) {
        if (r.kind == audit::Kind::segment_start || r.kind == audit::Kind::checkpoint ||
            r.kind == audit::Kind::retention || r.kind == audit::Kind::grant)
          return true;
        if (!audit::body_has_session(r.body, id)) return true;  // before rendering it
        recs.emplace_back(r, parse_body(r));
        return true;
      });
  if (!st.is_ok()) return fail("replay: " + st.message());
  if (recs.empty())
    return fail("replay: no records of session " + id + " in " + cfg.audit.dir.string());
  if (a.has("json")) {
    json::array out;
    for (auto& [r, body] : recs) {
      json::object o;
      o["seq"] = r.seq;
      o["kind"] = audit::kind_name(r.kind);
      o["time"] = iso_us(r.time_us);
      o["body"] = body;
      out.push_back(std::move(o));
    }
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::int64_t t0 = recs.front().first.time_us;
  for (auto& [r, body] : recs) {
    const json::object* o = body.if_object();
    if (!o) continue;
    double at = static_cast<double>(r.time_us - t0) / 1e6;
    switch (r.kind) {
      case audit::Kind::session_start:
        std::printf(
            "session %s: identity %s, connection %s, grant %s, client %s, tls %s, "
            "application %s\nstarted %s\n",
            id.c_str(), str(*o, "identity").c_str(), str(*o, "connection").c_str(),
            str(*o, "grant").c_str(), str(*o, "client").c_str(),
            str(*o, "tls") == "true" ? "yes" : "no", str(*o, "application").c_str(),
            iso_us(r.time_us).c_str());
        break;
      case audit::Kind::statement: {
        std::string decision = str(*o, "decision");
        std::string rule = str(*o, "rule");
        std::printf("[+%.3fs] #%s %s %s%s: %s\n", at, str(*o, "n").c_str(),
                    str(*o, "origin").c_str(), decision.c_str(),
                    rule.empty() ? "" : (" (rule " + rule + ")").c_str(), str(*o, "text").c_str());
        if (auto p = o->if_contains("params"); p && p->is_array() && !p->as_array().empty())
          std::printf("        params: %s\n", json::serialize(*p).c_str());
        if (decision == "refuse")
          std::printf("        refused: %s %s\n", str(*o, "sqlstate").c_str(),
                      str(*o, "message").c_str());
        break;
      }
      case audit::Kind::result: {
        std::string err;
        if (auto e = o->if_contains("error"); e && e->is_object())
          err = " error " + str(e->as_object(), "sqlstate") + " " + str(e->as_object(), "message");
        std::string tag = str(*o, "tag");
        std::printf(
            "        result of #%s: %s rows, %s bytes, %.3f ms %s%s%s\n", str(*o, "n").c_str(),
            str(*o, "rows").c_str(), str(*o, "bytes").c_str(),
            std::atof(str(*o, "duration_us").c_str()) / 1000.0, tag.c_str(), err.c_str(),
            str(*o, "truncated") == "true" ? " (rows past the recording cap not kept)" : "");
        print_table(*o);
        break;
      }
      case audit::Kind::session_end:
        std::printf("[+%.3fs] ended: %s (%s statements)\n", at, str(*o, "reason").c_str(),
                    str(*o, "statements").c_str());
        break;
      default:
        break;
    }
  }
  return 0;
}

int cmd_verify(const Args& a, const config::Config& cfg) {
  std::string dir = a.get("dir").value_or(cfg.audit.dir.string());
  auto keys = audit_verifier(cfg);
  if (!keys) return fail("audit verify: " + keys.status().message());
  std::optional<audit::Witness> witness;
  if (auto store = open_store(cfg)) {
    if (auto h = (*store)->get_audit_head(audit_node_name(cfg)); h && h->has_value())
      if (auto hash = audit::parse_hex_hash((**h).hash)) witness = audit::Witness{(**h).seq, *hash};
  }
  auto rep = audit::verify_log(dir, *keys, witness);
  for (const auto& n : rep.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  if (!rep.ok) {
    std::printf("FAILED: %s\n", rep.error.c_str());
    return 1;
  }
  std::printf(
      "ok: %llu segment(s), %llu records (seq %llu..%llu), %llu checkpoint(s), last "
      "signed at seq %llu, %s%s\n",
      static_cast<unsigned long long>(rep.segments), static_cast<unsigned long long>(rep.records),
      static_cast<unsigned long long>(rep.first_seq), static_cast<unsigned long long>(rep.last_seq),
      static_cast<unsigned long long>(rep.checkpoints),
      static_cast<unsigned long long>(rep.last_signed_seq), rep.sealed ? "sealed" : "open",
      witness ? ", matches the state store's last checkpoint" : "");
  return 0;
}

int cmd_export(const Args& a, const config::Config& cfg) {
  if (a.get("format").value_or("jsonl") != "jsonl")
    return fail("audit export: --format jsonl is the one format");
  std::optional<std::int64_t> since, until;
  if (auto s = a.get("since")) {
    since = parse_time_arg(*s);
    if (!since) return fail("audit export: --since takes a time or a duration ago (2h)");
  }
  if (auto u = a.get("until")) {
    until = parse_time_arg(*u);
    if (!until) return fail("audit export: --until takes a time or a duration ago");
  }
  Status st =
      audit::scan_log(cfg.audit.dir.string(), audit::posix_fs(), [&](const audit::Record& r) {
        std::int64_t ms = r.time_us / 1000;
        if (since && ms < *since) return true;
        if (until && ms > *until) return true;
        json::object o;
        o["seq"] = r.seq;
        o["kind"] = audit::kind_name(r.kind);
        o["time"] = iso_us(r.time_us);
        o["node"] = audit_node_name(cfg);
        o["prev"] = audit::hex(r.prev);
        o["hash"] = audit::hex(audit::hash_bytes(audit::encode_record(r)));
        o["body"] = parse_body(r);
        std::cout << json::serialize(o) << "\n";
        return true;
      });
  if (!st.is_ok()) return fail("audit export: " + st.message());
  return 0;
}

}  // namespace

int cmd_audit(const Args& a) {
  if (a.words.size() < 2) return fail("audit: expected verify, export, keygen or public-key");
  const std::string& verb = a.words[1];
  if (verb == "keygen") {
    auto k = audit::SigningKey::generate();
    std::fprintf(stderr, "public key (for audit.verify_keys once retired): %s\n",
                 k.public_line().c_str());
    std::printf("%s", k.private_pem().c_str());
    return 0;
  }
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  if (verb == "verify") return cmd_verify(a, *cfg);
  if (verb == "export") return cmd_export(a, *cfg);
  if (verb == "public-key") {
    auto k = audit_signing_key(*cfg, false);
    if (!k) return fail("audit public-key: " + k.status().message());
    std::printf("%s\n", k->public_line().c_str());
    return 0;
  }
  return fail("audit: unknown command '" + verb +
              "' (expected verify, export, keygen or "
              "public-key)");
}

int cmd_replay_session(const Args& a) {
  auto cfg = load(a);
  if (!cfg) return fail(cfg.status().message());
  return cmd_replay(a, *cfg);
}

}  // namespace sluice::app::cli
