#include "crypto/scram.h"

#include <charconv>

namespace sluice::crypto {
namespace {

constexpr int kMaxIterations = 1'000'000;  // a hostile upstream must not make us spin

Digest xor_digest(const Digest& a, const Digest& b) {
  Digest out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

// Splits "a=1,b=2" into attributes, in order. Values may contain '=' but not ','.
struct Attr {
  char name;
  std::string_view value;
};
bool split_attrs(std::string_view s, std::vector<Attr>& out) {
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    if (part.size() < 2 || part[1] != '=') return false;
    out.push_back({part[0], part.substr(2)});
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return false;  // trailing comma
  }
  return true;
}

bool printable_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  return true;
}

std::string make_nonce() {
  return base64_encode(random_string(18));
}

}  // namespace

ScramVerifier make_scram_verifier(std::string_view password, std::string_view salt,
                                  int iterations) {
  ScramVerifier v;
  v.salt = std::string(salt);
  v.iterations = iterations;
  Digest salted = pbkdf2_sha256(password, salt, iterations);
  Digest client_key = hmac_sha256(view(salted), "Client Key");
  v.stored_key = sha256(view(client_key));
  v.server_key = hmac_sha256(view(salted), "Server Key");
  return v;
}

Result<std::string> ScramServer::on_client_first(std::string_view msg, std::string_view salt,
                                                 int iterations, std::string_view nonce_for_test) {
  // gs2-header: cbind-flag "," [authzid] ","
  if (msg.size() < 3)
    return error(Code::protocol_violation, "SCRAM client-first-message too short");
  char flag = msg[0];
  if (flag == 'p')
    return error(Code::protocol_violation,
                 "SCRAM channel binding was requested but this gateway does not offer "
                 "SCRAM-SHA-256-PLUS");
  if ((flag != 'n' && flag != 'y') || msg[1] != ',')
    return error(Code::protocol_violation, "malformed SCRAM gs2 header");
  std::size_t second = msg.find(',', 2);
  if (second == std::string_view::npos)
    return error(Code::protocol_violation, "malformed SCRAM gs2 header");
  if (second != 2)
    return error(Code::protocol_violation, "SCRAM authorization identities are not supported");
  gs2_header_ = std::string(msg.substr(0, second + 1));
  client_first_bare_ = std::string(msg.substr(second + 1));

  std::vector<Attr> attrs;
  if (!split_attrs(client_first_bare_, attrs) || attrs.size() < 2)
    return error(Code::protocol_violation, "malformed SCRAM client-first-message");
  if (attrs[0].name == 'm')
    return error(Code::protocol_violation, "SCRAM mandatory extensions are not supported");
  // PostgreSQL ignores the SCRAM user name; the startup packet's user is the identity.
  if (attrs[0].name != 'n' || attrs[1].name != 'r' || !printable_nonce(attrs[1].value))
    return error(Code::protocol_violation, "malformed SCRAM client-first-message");

  nonce_ = std::string(attrs[1].value);
  nonce_ += nonce_for_test.empty() ? make_nonce() : std::string(nonce_for_test);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
  return server_first_;
}

Result<std::size_t> ScramServer::on_client_final(
    std::string_view msg, const std::vector<const ScramVerifier*>& candidates) {
  if (server_first_.empty())
    return error(Code::protocol_violation, "SCRAM client-final-message before client-first");
  std::size_t proof_at = msg.rfind(",p=");
  if (proof_at == std::string_view::npos)
    return error(Code::protocol_violation, "SCRAM client-final-message has no proof");
  std::string_view without_proof = msg.substr(0, proof_at);
  std::vector<Attr> attrs;
  if (!split_attrs(without_proof, attrs) || attrs.size() < 2 || attrs[0].name != 'c' ||
      attrs[1].name != 'r')
    return error(Code::protocol_violation, "malformed SCRAM client-final-message");
  auto cbind = base64_decode(attrs[0].value);
  if (!cbind || *cbind != gs2_header_)
    return error(Code::protocol_violation, "SCRAM channel-binding data does not match");
  if (!constant_time_equal(attrs[1].value, nonce_))
    return error(Code::protocol_violation, "SCRAM nonce does not match");
  auto proof = base64_decode(msg.substr(proof_at + 3));
  if (!proof || proof->size() != 32)
    return error(Code::protocol_violation, "malformed SCRAM proof");

  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  Digest client_proof{};
  std::copy(proof->begin(), proof->end(), client_proof.begin());

  // Try every candidate, without stopping early, so the time taken does not depend on which
  // candidate (if any) matched.
  std::size_t match = candidates.size();
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const ScramVerifier& v = *candidates[i];
    Digest client_signature = hmac_sha256(view(v.stored_key), auth_message);
    Digest client_key = xor_digest(client_proof, client_signature);
    Digest stored = sha256(view(client_key));
    bool ok = constant_time_equal(view(stored), view(v.stored_key));
    if (ok && match == candidates.size()) match = i;
  }
  if (match == candidates.size())
    return error(Code::unauthenticated, "SCRAM proof does not match any live token");
  Digest server_signature = hmac_sha256(view(candidates[match]->server_key), auth_message);
  server_final_ = "v=" + base64_encode(view(server_signature));
  return match;
}

ScramClient::ScramClient(std::string password, std::string_view nonce_for_test)
    : password_(std::move(password)),
      client_nonce_(nonce_for_test.empty() ? make_nonce() : std::string(nonce_for_test)) {}

std::string ScramClient::client_first() const {
  return "n,,n=,r=" + client_nonce_;
}

Result<std::string> ScramClient::on_server_first(std::string_view msg) {
  std::vector<Attr> attrs;
  if (!split_attrs(msg, attrs) || attrs.size() < 3 || attrs[0].name != 'r' ||
      attrs[1].name != 's' || attrs[2].name != 'i')
    return error(Code::protocol_violation, "malformed SCRAM server-first-message from upstream");
  std::string_view nonce = attrs[0].value;
  if (nonce.size() <= client_nonce_.size() ||
      nonce.substr(0, client_nonce_.size()) != client_nonce_ || !printable_nonce(nonce))
    return error(Code::protocol_violation, "upstream SCRAM nonce does not extend ours");
  auto salt = base64_decode(attrs[1].value);
  if (!salt || salt->empty())
    return error(Code::protocol_violation, "malformed SCRAM salt from upstream");
  int iterations = 0;
  auto [end, ec] = std::from_chars(attrs[2].value.data(),
                                   attrs[2].value.data() + attrs[2].value.size(), iterations);
  if (ec != std::errc{} || end != attrs[2].value.data() + attrs[2].value.size() || iterations < 1 ||
      iterations > kMaxIterations)
    return error(Code::protocol_violation, "upstream SCRAM iteration count is out of range");

  Digest salted = pbkdf2_sha256(password_, *salt, iterations);
  Digest client_key = hmac_sha256(view(salted), "Client Key");
  Digest stored_key = sha256(view(client_key));
  server_key_ = hmac_sha256(view(salted), "Server Key");

  client_final_without_proof_ = "c=biws,r=" + std::string(nonce);
  std::string client_first_bare = "n=,r=" + client_nonce_;
  auth_message_ = client_first_bare + "," + std::string(msg) + "," + client_final_without_proof_;
  Digest client_signature = hmac_sha256(view(stored_key), auth_message_);
  Digest proof = xor_digest(client_key, client_signature);
  return client_final_without_proof_ + ",p=" + base64_encode(view(proof));
}

Status ScramClient::on_server_final(std::string_view msg) const {
  if (msg.rfind("e=", 0) == 0)
    return error(Code::unauthenticated,
                 "upstream rejected the SCRAM exchange: " + std::string(msg.substr(2)));
  if (msg.rfind("v=", 0) != 0)
    return error(Code::protocol_violation, "malformed SCRAM server-final-message from upstream");
  auto sig = base64_decode(msg.substr(2));
  Digest expected = hmac_sha256(view(server_key_), auth_message_);
  if (!sig || !constant_time_equal(*sig, view(expected)))
    return error(Code::unauthenticated,
                 "upstream SCRAM server signature is wrong: the server does not know the "
                 "password (possible impostor)");
  return Status::ok();
}

}  // namespace sluice::crypto
