#include "config/secret.h"

#include <openssl/crypto.h>

namespace sluice::config {

// Wipe the bytes before the allocation goes back to the heap.
Secret::~Secret() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
}

}  // namespace sluice::config
