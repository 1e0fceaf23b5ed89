#include "audit/signer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/primitives.h"

namespace sluice::audit {
namespace {

std::shared_ptr<EVP_PKEY> wrap(EVP_PKEY* k) {
  return {k, EVP_PKEY_free};
}

std::string key_id_of(std::string_view raw_public) {
  auto d = crypto::sha256(raw_public);
  return crypto::hex_encode(crypto::view(d).substr(0, 8));
}

std::string raw_public(EVP_PKEY* k) {
  std::string pub(32, '\0');
  std::size_t len = pub.size();
  EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(pub.data()), &len);
  pub.resize(len);
  return pub;
}

}  // namespace

Result<SigningKey> SigningKey::parse(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.remove_suffix(1);
  EVP_PKEY* k = nullptr;
  if (text.find("BEGIN PRIVATE KEY") != std::string_view::npos) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(k);
      return error(Code::invalid_argument, "the audit signing key is not an Ed25519 key");
    }
  } else if (auto seed = crypto::base64_decode(text); seed && seed->size() == 32) {
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                     reinterpret_cast<const unsigned char*>(seed->data()), 32);
  }
  if (!k)
    return error(Code::invalid_argument,
                 "the audit signing key is neither an Ed25519 PEM private key nor the base64 of a "
                 "32-byte seed (make one with: sluice audit keygen)");
  SigningKey s;
  s.key_ = wrap(k);
  s.public_raw_ = raw_public(k);
  s.kid_ = key_id_of(s.public_raw_);
  return s;
}

SigningKey SigningKey::generate() {
  SigningKey s;
  s.key_ = wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  s.public_raw_ = raw_public(s.key_.get());
  s.kid_ = key_id_of(s.public_raw_);
  return s;
}

std::string SigningKey::public_line() const {
  return kid_ + " " + crypto::base64_encode(public_raw_);
}

std::string SigningKey::private_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  std::string out(p, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string SigningKey::sign(std::string_view message) const {
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get());
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

Status Verifier::add(std::string_view line) {
  auto sp = line.find(' ');
  std::string_view b64 = sp == std::string_view::npos ? line : line.substr(sp + 1);
  auto raw = crypto::base64_decode(b64);
  if (!raw || raw->size() != 32)
    return error(Code::invalid_argument,
                 "an audit public key is \"<key id> <base64 of 32 bytes>\" (sluice audit "
                 "public-key prints it)");
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw->data()), 32);
  if (!k) return error(Code::invalid_argument, "not an Ed25519 public key");
  std::string kid = key_id_of(*raw);
  if (sp != std::string_view::npos && line.substr(0, sp) != kid) {
    EVP_PKEY_free(k);
    return error(Code::invalid_argument, "the key id " + std::string(line.substr(0, sp)) +
                                             " does not match its key (expected " + kid + ")");
  }
  keys_[kid] = wrap(k);
  return Status::ok();
}

bool Verifier::verify(const std::string& kid, std::string_view message,
                      std::string_view sig) const {
  auto it = keys_.find(kid);
  if (it == keys_.end() || sig.size() != 64) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, it->second.get()) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string checkpoint_message(std::uint64_t seq, const Hash& prev, std::uint64_t segment,
                               bool final) {
  std::string m = "sluice-audit-checkpoint-v1";
  m.push_back('\0');
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
  m.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<char>((segment >> (8 * i)) & 0xff));
  m.push_back(final ? 1 : 0);
  return m;
}

}  // namespace sluice::audit
