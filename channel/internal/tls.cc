#include "channel/internal/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <mutex>

#include "common/log_escape.h"
#include "common/openssl_error.h"
#include "protocol/protocol.h"

namespace wb::channel::internal {
namespace {

namespace ssl = boost::asio::ssl;

std::string Base64(const unsigned char* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string SpkiPin(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(der, static_cast<std::size_t>(len), digest, &digest_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return Base64(digest, digest_len);
}

int ExDataIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int VerifyTrampoline(int preverified, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* state = ssl ? static_cast<VerifyState*>(SSL_get_ex_data(ssl, ExDataIndex())) : nullptr;
  if (state == nullptr) return 0;
  return VerifyPeer(preverified != 0, store, state->settings, state->record) ? 1 : 0;
}

std::string TlsVersionText(config::TlsVersion v) {
  return v == config::TlsVersion::kTls13 ? "1.3" : "1.2";
}

Status VerifyFailure(const VerifyRecord& r, const TlsSettings& s) {
  const std::string host = HostPortText(s.server);
  if (r.pin_mismatch) {
    return PermissionDenied(
        "TLS: the server certificate's public key does not match "
        "cloud.spki_pin (the server at " +
        host + " has pin " + r.server_pin +
        "); if the cloud changed its key on purpose, "
        "update cloud.spki_pin" +
        (s.proxy.empty() ? "" : ", otherwise the proxy " + s.proxy + " may be inspecting TLS"));
  }
  const SeenCertificate& c = r.failed_cert;
  const std::string who =
      "the server certificate (subject \"" + c.subject + "\", issuer \"" + c.issuer + "\")";
  switch (r.error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      if (!s.proxy.empty()) {
        return PermissionDenied(
            "TLS: " + who + " is not signed by a CA in " + s.ca_file.string() + ": the proxy " +
            s.proxy +
            " is probably inspecting TLS (it answered with a "
            "certificate from its own CA). wbagent never trusts an inspecting proxy: ask for " +
            s.server.host + " to be exempted from TLS inspection");
      }
      return PermissionDenied("TLS: " + who + " is not signed by a CA in " + s.ca_file.string() +
                              " (is a TLS-inspecting proxy in the path? otherwise check that "
                              "cloud.ca_file holds the cloud's CA)");
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return PermissionDenied("TLS: " + who + " expired on " + c.not_after +
                              " (the cloud must renew it; or this host's clock is wrong)");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return PermissionDenied("TLS: " + who + " is not valid before " + c.not_before +
                              " (check this host's clock)");
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return PermissionDenied("TLS: the server certificate is not for \"" + s.server.host +
                              "\" (it names " + CertificateNamesText(r.leaf.names) +
                              "); cloud.url must use a name the certificate holds");
    default:
      return PermissionDenied("TLS: " + who + " failed verification at depth " +
                              std::to_string(r.depth) + ": " +
                              X509_verify_cert_error_string(r.error));
  }
}

}  // namespace

std::string HostPortText(const config::HostPort& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Result<std::unique_ptr<ssl::context>> MakeClientContext(const TlsSettings& s) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(
      native, s.min_tls == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // The configured CA file and nothing else: no default paths, no bundled list.
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(native, s.ca_file.c_str(), nullptr) != 1) {
    return PermissionDenied("cannot load the cloud CA file " + s.ca_file.string() +
                            " (cloud.ca_file): " + TakeOpenSslErrors() +
                            "; it must hold PEM certificates");
  }
  if (s.client_cert && s.client_key) {
    if (!std::filesystem::exists(*s.client_cert)) {
      return NotFound("this agent has no client certificate (" + s.client_cert->string() +
                      " does not exist): run `wbagent register --token-file -`");
    }
    if (SSL_CTX_use_certificate_chain_file(native, s.client_cert->c_str()) != 1) {
      return Status(Code::kCorruption, "cannot load the client certificate " +
                                           s.client_cert->string() + ": " + TakeOpenSslErrors());
    }
    auto key = protocol::EcPrivateKey::Load(*s.client_key);
    if (!key.ok()) return key.error().WithContext("client key " + s.client_key->string());
    if (SSL_CTX_use_PrivateKey(native, key->native()) != 1 ||
        SSL_CTX_check_private_key(native) != 1) {
      ERR_clear_error();
      return Status(Code::kCorruption, "the client certificate " + s.client_cert->string() +
                                           " does not match the key " + s.client_key->string() +
                                           " (run `wbagent register` again)");
    }
  }
  return ctx;
}

Status PrepareConnection(SSL* ssl, VerifyState& state) {
  const TlsSettings& s = state.settings;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (IsIpAddress(s.server.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, s.server.host.c_str()) != 1) {
      return InvalidArgument("cannot verify IP address " + s.server.host);
    }
  } else {
    // SNI carries DNS names only (RFC 6066 section 3).
    if (SSL_set_tlsext_host_name(ssl, s.server.host.c_str()) != 1 ||
        X509_VERIFY_PARAM_set1_host(param, s.server.host.c_str(), 0) != 1) {
      ERR_clear_error();
      return InvalidArgument("cannot verify host name " + EscapeForLog(s.server.host));
    }
  }
  SSL_set_ex_data(ssl, ExDataIndex(), &state);
  SSL_set_verify(ssl, SSL_VERIFY_PEER, VerifyTrampoline);
  return Status::Ok();
}

bool VerifyPeer(bool preverified, X509_STORE_CTX* store, const TlsSettings& s,
                VerifyRecord& record) {
  const int depth = X509_STORE_CTX_get_error_depth(store);
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (depth == 0 && cert != nullptr) record.leaf = DescribeCertificate(cert);
  if (!preverified) {
    if (!record.failed) {
      record.failed = true;
      record.error = X509_STORE_CTX_get_error(store);
      record.depth = depth;
      record.failed_cert = DescribeCertificate(cert);
    }
    return false;
  }
  if (depth == 0 && s.spki_pin && cert != nullptr) {
    const std::string want = Base64(s.spki_pin->data(), s.spki_pin->size());
    record.server_pin = SpkiPin(cert);
    if (record.server_pin != want) {
      record.failed = true;
      record.pin_mismatch = true;
      X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
      return false;
    }
  }
  return true;
}

Status TlsError(const boost::system::error_code& ec, const VerifyRecord& record,
                const TlsSettings& s, std::string_view step) {
  if (record.failed) return VerifyFailure(record, s);
  const std::string host = HostPortText(s.server);
  if (ec == ssl::error::stream_truncated || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset) {
    return Unavailable(
        "TLS: " + host + " closed the connection during the " + std::string(step) +
        (s.proxy.empty() ? "" : " (the proxy " + s.proxy + " may block TLS to this host)"));
  }
  if (ec.category() != boost::asio::error::get_ssl_category()) {
    return Unavailable("TLS: " + std::string(step) + " with " + host + " failed: " + ec.message());
  }
  const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  const std::string what = ec.message();
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return PermissionDenied("TLS: " + host + " does not offer TLS " + TlsVersionText(s.min_tls) +
                              " or later (" + what + "); cloud.min_tls is \"" +
                              TlsVersionText(s.min_tls) + "\"" +
                              (s.min_tls == config::TlsVersion::kTls13
                                   ? ": set it to \"1.2\" only if the cloud cannot do TLS 1.3"
                                   : ""));
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return Unavailable("TLS: " + host + " did not answer with TLS (" + what +
                         "): is the port in cloud.url a TLS port?");
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return PermissionDenied("TLS: the cloud refused this agent's client certificate (" + what +
                              "): the agent is not enrolled with this cloud, or its "
                              "certificate expired; run `wbagent register --token-file -`");
    case SSL_R_TLSV1_ALERT_INTERNAL_ERROR:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return Unavailable("TLS: " + host + " refused the handshake (" + what +
                         "): no common cipher or version, or the server is misconfigured");
    default:
      return Unavailable("TLS: " + std::string(step) + " with " + host + " failed: " + what);
  }
}

}  // namespace wb::channel::internal
