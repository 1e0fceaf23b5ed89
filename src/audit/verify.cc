#include "audit/verify.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "audit/audit_log.h"
#include "audit/event_body.h"
#include "crypto/primitives.h"

namespace sluice::audit {
namespace {

namespace json = boost::json;

const json::object* as_object(const json::value& v) {
  return v.if_object();
}

std::uint64_t get_u64(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  if (it == o.end()) return 0;
  if (it->value().is_uint64()) return it->value().as_uint64();
  if (it->value().is_int64() && it->value().as_int64() >= 0)
    return static_cast<std::uint64_t>(it->value().as_int64());
  return 0;
}

std::string get_str(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

bool get_bool(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

struct Segment {
  std::uint64_t number;
  std::string name;
};

}  // namespace

VerifyReport verify_log(const std::string& dir, const Verifier& keys,
                        const std::optional<Witness>& witness, FileSystem& fs) {
  VerifyReport rep;
  auto fail = [&](std::string why) {
    rep.ok = false;
    rep.error = std::move(why);
    return rep;
  };
  auto names = fs.list(dir);
  if (!names) return fail(names.status().message());
  std::vector<Segment> segs;
  for (const auto& n : *names)
    if (auto num = parse_segment_name(n)) segs.push_back({num, n});
  std::sort(segs.begin(), segs.end(),
            [](const Segment& a, const Segment& b) { return a.number < b.number; });
  if (segs.empty()) {
    rep.notes.push_back("the log is empty");
    return rep;
  }
  for (std::size_t i = 1; i < segs.size(); ++i)
    if (segs[i].number != segs[i - 1].number + 1)
      return fail("segment " + segment_name(segs[i - 1].number + 1) + " is missing (between " +
                  segs[i - 1].name + " and " + segs[i].name +
                  "), and no retention removes segments from the middle of the log");

  Hash head{};
  std::uint64_t expect_seq = 0;  // 0: take the first record's
  bool prev_sealed = true;
  bool prev_torn = false;
  std::map<std::uint64_t, Hash> prev_segment_hashes;  // seq -> hash, of the previous segment
  std::map<std::uint64_t, Hash> this_segment_hashes;
  std::map<std::uint64_t, std::string> retained;  // removed segment -> chain hash
  Hash first_prev{};
  bool witness_seen = false;
  std::uint64_t since_signed = 0;
  std::uint64_t last_claim_seq = 0;  // the last recovery or retention record

  for (std::size_t si = 0; si < segs.size(); ++si) {
    const auto& seg = segs[si];
    auto data = fs.read(dir + "/" + seg.name);
    if (!data) return fail(data.status().message());
    FrameReader reader(*data);
    std::string bytes, why;
    bool first = true;
    bool sealed = false;
    prev_segment_hashes = std::move(this_segment_hashes);
    this_segment_hashes.clear();
    ++rep.segments;
    for (;;) {
      auto next = reader.next(bytes, why);
      if (next == FrameReader::Next::end) break;
      if (next == FrameReader::Next::torn) {
        prev_torn = true;
        rep.notes.push_back(seg.name + " ends with a torn write at offset " +
                            std::to_string(reader.offset()));
        break;
      }
      std::string where = seg.name + " offset " + std::to_string(reader.record_offset());
      if (next == FrameReader::Next::corrupt)
        return fail(seg.name + ": " + why + " (after seq " + std::to_string(expect_seq - 1) + ")");
      auto rec = decode_record(bytes);
      if (!rec) return fail(where + ": " + rec.status().message());
      where += " (seq " + std::to_string(rec->seq) + ")";
      auto text = body_json(rec->kind, rec->body);
      if (!text) return fail(where + ": " + text.status().message());
      json::value body;
      boost::system::error_code ec;
      body = json::parse(*text, ec);
      const json::object* o = ec ? nullptr : as_object(body);
      if (!o) return fail(where + ": the record's body is not a JSON object");
      Hash h = hash_bytes(bytes);

      if (first) {
        first = false;
        if (rec->kind != Kind::segment_start)
          return fail(where + ": the segment does not begin with its segment_start record");
        if (get_u64(*o, "segment") != seg.number)
          return fail(where + ": file " + seg.name + " holds segment " +
                      std::to_string(get_u64(*o, "segment")) +
                      " (segments were renamed or "
                      "reordered)");
        if (si == 0) {
          expect_seq = rec->seq;
          rep.first_seq = rec->seq;
          first_prev = rec->prev;
          if (seg.number == 1 && (rec->seq != 1 || rec->prev != Hash{}))
            return fail(where + ": the first segment does not start the chain");
          head = rec->prev;
        } else {
          const json::value* recovered = o->if_contains("recovered");
          if (recovered && recovered->is_object()) {
            const auto& r = recovered->as_object();
            std::uint64_t last_seq = get_u64(r, "last_seq");
            auto last_hash = parse_hex_hash(get_str(r, "last_hash"));
            auto it = prev_segment_hashes.find(last_seq);
            if (!last_hash || it == prev_segment_hashes.end() || it->second != *last_hash)
              return fail(where + ": the recovery record names seq " + std::to_string(last_seq) +
                          ", which is not the record the previous segment holds there");
            head = *last_hash;
            expect_seq = last_seq + 1;
            // A recovery claim is trusted only once a later checkpoint signs it.
            last_claim_seq = std::max(last_claim_seq, rec->seq);
            rep.notes.push_back(seg.name + " resumed the chain after seq " +
                                std::to_string(last_seq) + ": " + get_str(r, "reason"));
          } else if (!prev_sealed || prev_torn) {
            return fail(segs[si - 1].name + " is not sealed and " + seg.name +
                        " does not record a recovery: records were removed from its end");
          }
        }
        prev_torn = false;
      }
      if (rec->seq != expect_seq)
        return fail(where + ": expected seq " + std::to_string(expect_seq) +
                    " (a record was removed or reordered)");
      if (rec->prev != head)
        return fail(where + ": its previous-record hash does not match seq " +
                    std::to_string(rec->seq - 1) + " (a record was altered, removed or inserted)");
      if (sealed) return fail(where + ": a record after the segment's seal");

      if (rec->kind == Kind::checkpoint) {
        std::string kid = get_str(*o, "key_id");
        auto sig = crypto::base64_decode(get_str(*o, "sig"));
        bool final = get_bool(*o, "final");
        if (!keys.knows(kid))
          return fail(where + ": signed by unknown key " + kid +
                      " (add its public key to audit.verify_keys)");
        if (get_u64(*o, "segment") != seg.number || !sig ||
            !keys.verify(kid, checkpoint_message(rec->seq, rec->prev, seg.number, final), *sig))
          return fail(where +
                      ": the checkpoint's signature does not verify (the records "
                      "before it were altered)");
        ++rep.checkpoints;
        rep.last_signed_seq = rec->seq;
        since_signed = 0;
        sealed = final;
      } else {
        ++since_signed;
      }
      if (rec->kind == Kind::retention) {
        last_claim_seq = std::max(last_claim_seq, rec->seq);
        if (const json::value* removed = o->if_contains("removed"); removed && removed->is_array())
          for (const auto& item : removed->as_array())
            if (const auto* io = item.if_object())
              retained[get_u64(*io, "segment")] = get_str(*io, "chain");
      }
      // After a write failure the chain resumes at an earlier seq, so a seq can appear twice:
      // the record that counts is the last one read.
      if (witness && rec->seq == witness->seq) witness_seen = h == witness->hash;
      this_segment_hashes[rec->seq] = h;
      head = h;
      rep.last_seq = rec->seq;
      ++expect_seq;
      ++rep.records;
    }
    if (first) return fail(seg.name + " holds no record");
    prev_sealed = sealed;
    if (si + 1 == segs.size()) rep.sealed = sealed;
  }

  if (segs.front().number > 1) {
    auto it = retained.find(segs.front().number - 1);
    if (it == retained.end() || it->second != hex(first_prev))
      return fail("the log starts at " + segs.front().name +
                  ", but no retention record "
                  "accounts for " +
                  segment_name(segs.front().number - 1) + " (segments were deleted)");
    rep.notes.push_back("segments before " + segs.front().name + " were removed by retention");
  }
  if (last_claim_seq > rep.last_signed_seq)
    return fail("the recovery or retention record at seq " + std::to_string(last_claim_seq) +
                " is not signed by any later checkpoint; unsigned claims about missing records "
                "are not trusted (a log that just restarted is signed within "
                "checkpoint_interval: verify again)");
  if (witness && !witness_seen) {
    if (witness->seq > rep.last_seq)
      return fail("the log ends at seq " + std::to_string(rep.last_seq) +
                  ", but the state store recorded a checkpoint at seq " +
                  std::to_string(witness->seq) + ": records were removed from the end");
    if (witness->seq >= rep.first_seq)
      return fail("the checkpoint the state store recorded at seq " + std::to_string(witness->seq) +
                  " is not in the log as recorded: records were removed or replaced");
  }
  if (!rep.sealed && since_signed > 0)
    rep.notes.push_back("the last " + std::to_string(since_signed) +
                        " record(s) follow the last checkpoint (the gateway is running, or "
                        "stopped abruptly; they are chained but not yet signed)");
  return rep;
}

Status scan_log(const std::string& dir, FileSystem& fs,
                const std::function<bool(const Record&)>& fn) {
  auto names = fs.list(dir);
  if (!names) return names.status();
  std::vector<std::uint64_t> nums;
  for (const auto& n : *names)
    if (auto num = parse_segment_name(n)) nums.push_back(num);
  std::sort(nums.begin(), nums.end());
  for (auto n : nums) {
    auto data = fs.read(dir + "/" + segment_name(n));
    if (!data) return data.status();
    FrameReader reader(*data);
    std::string bytes, why;
    while (reader.next(bytes, why) == FrameReader::Next::record) {
      auto rec = decode_record(bytes);
      if (!rec) break;
      if (!fn(*rec)) return Status::ok();
    }
  }
  return Status::ok();
}

}  // namespace sluice::audit
