// libFuzzer target: a fixed client pipeline, then raw server bytes into the relay's server
// side. The relay must turn anything the server sends into forwarded bytes or a clean fatal
// error, never a crash or a read outside the input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proto/pg/frontend.h"
#include "session/pg/relay.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hook::SessionInfo info;
  hook::StatementPipeline pipeline;
  session::pg::RelayLimits rl;
  rl.frames.max_message_bytes = 1 << 16;
  rl.stream_threshold = 64;
  session::pg::PgRelay relay(info, pipeline, rl);

  std::string client;
  pg::append_query(client, "select 1");
  pg::append_parse(client, "s1", "select $1");
  std::string bind = {'B', 0, 0, 0, 14, 0, 's', '1', 0, 0, 0, 0, 0, 0, 0};
  client += bind;
  client += std::string{'E', 0, 0, 0, 9, 0, 0, 0, 0, 0};
  pg::append_sync(client);
  (void)relay.on_client_bytes(as_bytes(client));
  relay.upstream_output().clear();

  Bytes in(data, size);
  std::size_t pos = 0;
  while (pos < size) {
    auto step = relay.on_server_bytes(in.subspan(pos));
    (void)relay.client_output().segments();
    relay.client_output().clear();
    if (step.fatal || step.consumed == 0) break;
    pos += step.consumed;
  }
  return 0;
}
