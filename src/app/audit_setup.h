// Where the gateway and the CLI find the audit log's keys: the configured signing key
// (audit.signing_key, a secret reference), or for development a key generated once under
// data_dir; and the public keys verification accepts (that key plus audit.verify_keys).
#pragma once

#include "audit/signer.h"
#include "config/config.h"
#include "core/status.h"

namespace sluice::app {

Result<audit::SigningKey> audit_signing_key(const config::Config& c, bool create);
Result<audit::Verifier> audit_verifier(const config::Config& c);
std::string audit_node_name(const config::Config& c);

}  // namespace sluice::app
