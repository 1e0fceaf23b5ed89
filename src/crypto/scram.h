// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, both sides.
//
// ScramServer authenticates clients against stored verifiers; it never sees a password.
// Because the server must send salt and iteration count before it sees the proof, all
// verifiers checked in one exchange share one salt (Sluice keeps one salt per identity) and
// the proof is tried against each candidate's StoredKey (DESIGN.md, "SCRAM with several live
// tokens"). ScramClient logs the gateway into an upstream server and checks the server's
// signature, so a server that does not know the password cannot pass for one that does.
//
// Channel binding (SCRAM-SHA-256-PLUS) is not offered: the client side of Sluice is protected
// by TLS and the verifier's per-token entropy, the upstream side by verify-full TLS.
//
// Both classes are plain state machines with no I/O; one instance serves one exchange on one
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/primitives.h"

namespace sluice::crypto {

inline constexpr int kScramDefaultIterations = 4096;

struct ScramVerifier {
  std::string salt;  // raw bytes
  int iterations = kScramDefaultIterations;
  Digest stored_key{};
  Digest server_key{};
};

// Computes the verifier for `password`. The password is used as given: Sluice's own tokens
// are ASCII, for which SASLprep is the identity.
ScramVerifier make_scram_verifier(std::string_view password, std::string_view salt, int iterations);

class ScramServer {
 public:
  // Parses the client-first-message and returns the server-first-message to send, using
  // `salt` and `iterations` and a fresh server nonce. `nonce_for_test` replaces the random
  // nonce in tests.
  Result<std::string> on_client_first(std::string_view message, std::string_view salt,
                                      int iterations, std::string_view nonce_for_test = {});

  // Parses the client-final-message and checks its proof against each candidate. On success
  // returns the index of the first matching candidate; the server-final-message is then
  // available from server_final().
  Result<std::size_t> on_client_final(std::string_view message,
                                      const std::vector<const ScramVerifier*>& candidates);

  const std::string& server_final() const { return server_final_; }

 private:
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // client nonce + server nonce
  std::string server_final_;
};

class ScramClient {
 public:
  explicit ScramClient(std::string password, std::string_view nonce_for_test = {});

  std::string client_first() const;  // "n,,n=,r=<nonce>"
  // Consumes server-first, returns client-final.
  Result<std::string> on_server_first(std::string_view message);
  // Checks the server's signature.
  Status on_server_final(std::string_view message) const;

 private:
  std::string password_;
  std::string client_nonce_;
  std::string client_final_without_proof_;
  std::string auth_message_;
  Digest server_key_{};
};

}  // namespace sluice::crypto
