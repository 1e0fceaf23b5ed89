#include "app/audit_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/log.h"

namespace sluice::app {

std::string audit_node_name(const config::Config& c) {
  return "node-" + std::to_string(c.node_id);
}

Result<audit::SigningKey> audit_signing_key(const config::Config& c, bool create) {
  if (!c.audit.signing_key.reveal().empty()) {
    auto k = audit::SigningKey::parse(c.audit.signing_key.reveal());
    if (!k) return error(k.status().code(), "audit.signing_key: " + k.status().message());
    return k;
  }
  auto path = c.data_dir / "audit-signing.key";
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto k = audit::SigningKey::parse(ss.str());
    if (!k) return error(k.status().code(), path.string() + ": " + k.status().message());
    return k;
  }
  if (!create)
    return error(Code::not_found,
                 "no audit signing key: set audit.signing_key, or start the "
                 "gateway once to generate " +
                     path.string());
  auto k = audit::SigningKey::generate();
  std::string pem = k.private_pem();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, pem.data(), pem.size()) != static_cast<ssize_t>(pem.size()) ||
      ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    return error(Code::io_error, "cannot write " + path.string());
  }
  ::close(fd);
  log::warn("audit", "generated an audit signing key at ", path.string(),
            " (development default: in production set audit.signing_key from a secret store, "
            "so that whoever can write the log cannot also re-sign it)");
  return k;
}

Result<audit::Verifier> audit_verifier(const config::Config& c) {
  audit::Verifier v;
  if (auto k = audit_signing_key(c, false)) v.add(*k);
  for (const auto& line : c.audit.verify_keys) {
    Status st = v.add(line);
    if (!st.is_ok()) return error(st.code(), "audit.verify_keys: " + st.message());
  }
  return v;
}

}  // namespace sluice::app
