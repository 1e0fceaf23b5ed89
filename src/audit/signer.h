// Ed25519 keys that sign audit checkpoints. A key id (the first 8 bytes of the SHA-256 of the
// public key, in hex) travels with each signature, so keys can rotate: verification looks the
// id up among the current and the retired public keys.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "audit/format.h"
#include "core/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace sluice::audit {

class SigningKey {
 public:
  // A private key: PEM ("BEGIN PRIVATE KEY"), or the base64 of the 32-byte seed.
  static Result<SigningKey> parse(std::string_view text);
  static SigningKey generate();

  const std::string& key_id() const { return kid_; }
  // "<key id> <base64 public key>": what `sluice audit public-key` prints and `verify_keys` take.
  std::string public_line() const;
  std::string private_pem() const;
  std::string sign(std::string_view message) const;

 private:
  std::shared_ptr<EVP_PKEY> key_;
  std::string kid_;
  std::string public_raw_;
};

class Verifier {
 public:
  // Adds a public key given as "<key id> <base64>" or just "<base64>".
  Status add(std::string_view line);
  void add(const SigningKey& k) { (void)add(k.public_line()); }
  bool knows(const std::string& kid) const { return keys_.count(kid) > 0; }
  bool verify(const std::string& kid, std::string_view message, std::string_view sig) const;

 private:
  std::map<std::string, std::shared_ptr<EVP_PKEY>> keys_;
};

// What a checkpoint signs: the chain's head (the checkpoint record's seq and prev hash), the
// segment, and whether it seals the segment.
std::string checkpoint_message(std::uint64_t seq, const Hash& prev, std::uint64_t segment,
                               bool final);

}  // namespace sluice::audit
