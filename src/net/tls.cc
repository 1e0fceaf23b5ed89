#include "net/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace sluice::net {

Result<std::shared_ptr<ssl::context>> make_server_tls(const config::ClientTls& cfg) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  error_code ec;
  ctx->use_certificate_chain_file(cfg.cert_file, ec);
  if (ec)
    return error(Code::invalid_argument,
                 "tls.cert: cannot load certificate chain " + cfg.cert_file + ": " + ec.message());
  ctx->use_private_key_file(cfg.key_file, ssl::context::pem, ec);
  if (ec)
    return error(Code::invalid_argument,
                 "tls.key: cannot load private key " + cfg.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return error(Code::invalid_argument, "tls.key does not match tls.cert");
  return ctx;
}

Result<std::shared_ptr<ssl::context>> make_client_tls(config::UpstreamTls mode,
                                                      const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (mode == config::UpstreamTls::verify_full) {
    error_code ec;
    if (ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(ca_file, ec);
    }
    if (ec)
      return error(Code::invalid_argument, "cannot load the upstream CA " +
                                               (ca_file.empty() ? "store" : ca_file) + ": " +
                                               ec.message());
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    // require/prefer encrypt without authenticating the server, as libpq's modes do.
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

Status prepare_client_tls(ssl::stream<tcp::socket>& s, config::UpstreamTls mode,
                          const std::string& host_name) {
  SSL* h = s.native_handle();
  // SNI is not sent for IP addresses (RFC 6066).
  error_code ec;
  asio::ip::make_address(host_name, ec);
  bool is_ip = !ec;
  if (!is_ip && SSL_set_tlsext_host_name(h, host_name.c_str()) != 1)
    return error(Code::internal, "cannot set TLS server name");
  if (mode == config::UpstreamTls::verify_full) {
    // Without this OpenSSL checks the chain but not that it belongs to this host.
    if (is_ip) {
      X509_VERIFY_PARAM* p = SSL_get0_param(h);
      if (X509_VERIFY_PARAM_set1_ip_asc(p, host_name.c_str()) != 1)
        return error(Code::internal, "cannot set the expected server address");
    } else if (SSL_set1_host(h, host_name.c_str()) != 1) {
      return error(Code::internal, "cannot set the expected server name");
    }
  }
  return Status::ok();
}

}  // namespace sluice::net
