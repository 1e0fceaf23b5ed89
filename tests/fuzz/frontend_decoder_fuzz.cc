// libFuzzer target: raw client bytes into the frontend decoder, every body parser, and the
// relay's client side (with an empty hook pipeline). Any crash, sanitizer report or
// over-read is a bug; decoding must only ever answer complete, need-more or invalid.
#include <cstddef>
#include <cstdint>

#include "proto/pg/backend.h"
#include "proto/pg/frame.h"
#include "proto/pg/frontend.h"
#include "proto/pg/message.h"
#include "session/pg/relay.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  if (size == 0) return 0;

  // The first message of a connection.
  auto s = pg::decode_startup(in, 10000);
  if (s.status == pg::DecodeStatus::complete) {
    (void)pg::parse_startup_params(s.frame.code, s.frame.body);
    (void)pg::parse_cancel_request(s.frame.body);
  }

  // Typed messages, one after another, with every parser that applies.
  pg::FrameLimits limits{1 << 16};
  std::size_t pos = 0;
  while (pos < size) {
    auto d = pg::decode_frontend(in.subspan(pos), limits);
    if (d.status != pg::DecodeStatus::complete) break;
    Bytes b = d.frame.body;
    switch (d.frame.type) {
      case pg::fe::kQuery:
        (void)pg::parse_query(b);
        break;
      case pg::fe::kParse:
        (void)pg::parse_parse(b);
        break;
      case pg::fe::kBind:
        (void)pg::parse_bind(b);
        break;
      case pg::fe::kDescribe:
      case pg::fe::kClose:
        (void)pg::parse_describe(b);
        break;
      case pg::fe::kExecute:
        (void)pg::parse_execute(b);
        break;
      case pg::fe::kPassword:
        (void)pg::parse_sasl_initial(b);
        (void)pg::parse_password(b);
        break;
      default:
        break;
    }
    pos += d.frame.wire_size();
  }

  // The relay, fed in two pieces so that message boundaries fall anywhere.
  hook::SessionInfo info;
  hook::StatementPipeline pipeline;
  session::pg::RelayLimits rl;
  rl.frames.max_message_bytes = 1 << 16;
  session::pg::PgRelay relay(info, pipeline, rl);
  std::size_t cut = data[0] % size;
  std::size_t consumed = 0;
  for (int round = 0; round < 2; ++round) {
    std::size_t end = round == 0 ? cut : size;
    auto step = relay.on_client_bytes(in.subspan(consumed, end - consumed));
    (void)relay.upstream_output().segments();
    relay.upstream_output().clear();
    consumed += step.consumed;
    if (step.next == session::pg::PgRelay::ClientNext::fatal ||
        step.next == session::pg::PgRelay::ClientNext::terminate)
      break;
  }
  return 0;
}
