// Identity costs (issue 4): validating an OIDC access token against a cached JWKS, per
// algorithm, and grant creation throughput through the embedded state store.
//   cmake -S . -B build -DSLUICE_BENCH=ON && cmake --build build --target identity_bench
//   build/identity_bench
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <ctime>
#include <filesystem>

#include "identity/grant_service.h"
#include "identity/jwt.h"
#include "policy/roles.h"
#include "store/state_store.h"
#include "support/test_keys.h"

using namespace sluice;
using namespace sluice::testing;

namespace {

constexpr const char* kIss = "https://idp.example";

std::string claims() {
  std::int64_t now = std::time(nullptr);
  return R"({"iss":")" + std::string(kIss) +
         R"(","aud":"sluice","sub":"agent-1","client_id":"agent-1","scope":"grants",)"
         R"("groups":["ai-agents","reporting"],"jti":"b1f0c8a2e3d94f7a","iat":)" +
         std::to_string(now) + R"(,"exp":)" + std::to_string(now + 300) + "}";
}

// decode + verify: what the admin API does per request once the JWKS is cached.
void BM_ValidateJwt(benchmark::State& state, TestKey (*make)(std::string)) {
  TestKey k = make("k1");
  // A realistic key set: the signing key among others of each type.
  TestKey others[] = {rsa_key("r2"), ec_key("e2"), ed_key("d2")};
  auto keys = identity::parse_jwks(R"({"keys":[)" + others[0].jwk + "," + others[1].jwk + "," +
                                   others[2].jwk + "," + k.jwk + "]}");
  identity::JwtPolicy policy;
  policy.issuer = kIss;
  policy.audience = "sluice";
  policy.algorithms = {identity::JwsAlg::rs256, identity::JwsAlg::es256, identity::JwsAlg::eddsa};
  std::string token = make_token(k, claims());
  std::int64_t now = std::time(nullptr);
  for (auto _ : state) {
    auto d = identity::decode_jwt(token, 16384);
    Status st = identity::verify_jwt(*d, policy, *keys, now);
    if (!st.is_ok()) state.SkipWithError(st.message().c_str());
    benchmark::DoNotOptimize(st);
  }
  state.SetLabel(std::to_string(token.size()) + "B token");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_ValidateJwt, RS256, [](std::string kid) { return rsa_key(kid); });
BENCHMARK_CAPTURE(BM_ValidateJwt, ES256, ec_key);
BENCHMARK_CAPTURE(BM_ValidateJwt, EdDSA, ed_key);

// Baseline: the signature check alone (OpenSSL), which validation cannot go below.
void BM_SignatureOnly(benchmark::State& state, TestKey (*make)(std::string)) {
  TestKey k = make("k1");
  auto keys = identity::parse_jwks(R"({"keys":[)" + k.jwk + "]}");
  auto d = identity::decode_jwt(make_token(k, claims()), 16384);
  for (auto _ : state)
    benchmark::DoNotOptimize(
        identity::verify_jws_signature(keys->keys[0], d->signing_input, d->signature));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SignatureOnly, RS256, [](std::string kid) { return rsa_key(kid); });
BENCHMARK_CAPTURE(BM_SignatureOnly, ES256, ec_key);
BENCHMARK_CAPTURE(BM_SignatureOnly, EdDSA, ed_key);

// Decoding alone (base64url + JSON + header checks): the part before the signature.
void BM_DecodeJwt(benchmark::State& state) {
  TestKey k = ed_key("k1");
  std::string token = make_token(k, claims());
  for (auto _ : state) benchmark::DoNotOptimize(identity::decode_jwt(token, 16384));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJwt);

struct StoreFixture {
  std::string dir;
  std::unique_ptr<store::StateStore> st;
  policy::Roles roles;
  StoreFixture() {
    char tmpl[] = "/tmp/sluice-bench-XXXXXX";
    dir = mkdtemp(tmpl);
    st = std::move(store::open_sqlite_store(dir + "/state.db").value());
    policy::Role r;
    r.name = "agents";
    r.match.groups = {"ai-agents"};
    r.connections = {"shop"};
    r.auto_approve.enabled = true;
    r.reviewers.groups = {"dba"};
    roles.list.push_back(r);
    who.kind = policy::Principal::Kind::oidc;
    who.identity = "agent-1";
    who.groups = {"ai-agents"};
    request.identity = "agent-1";
    request.connection = "shop";
    request.ttl_ms = 600'000;
  }
  policy::Principal who;           // an agent holding the role
  identity::GrantRequest request;  // read access to shop for 10 minutes
  ~StoreFixture() { std::filesystem::remove_all(dir); }
};

// POST /v1/grants minus HTTP: role decision, then the grant and its change-feed entry in one
// transaction. arg 0: auto-approved read; 1: a write request left pending.
void BM_GrantRequest(benchmark::State& state) {
  StoreFixture f;
  identity::GrantService grants(*f.st);
  identity::GrantRequest r = f.request;
  r.tables = {"public.orders"};
  r.access = state.range(0) ? "write" : "read";
  for (auto _ : state) {
    auto g = grants.request(r, f.who, f.roles);
    if (!g) state.SkipWithError(g.status().message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GrantRequest)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Request plus token fetch: adds the token's SCRAM verifier (PBKDF2, 4096 iterations).
void BM_GrantRequestAndToken(benchmark::State& state) {
  StoreFixture f;
  identity::GrantService grants(*f.st);
  for (auto _ : state) {
    auto g = grants.request(f.request, f.who, f.roles);
    auto t = grants.take_token(g->id, f.who);
    if (!t) state.SkipWithError(t.status().message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GrantRequestAndToken)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
