#include "ldap/tls_probe.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <memory>

#include "common/certificate_text.h"
#include "common/log_escape.h"
#include "common/openssl_error.h"
#include "common/openssl_ptr.h"
#include "common/time_sync.h"
#include "ldap/socket.h"

namespace wb::ldap {
namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, OsslDeleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OsslDeleter<SSL, SSL_free>>;

// The socket, closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// What the verify callback saw: the leaf, and the first certificate that failed and why.
struct Observed {
  bool failed = false;
  int error = X509_V_OK;
  int depth = 0;
  SeenCertificate failed_cert;
  SeenCertificate leaf;
};

int ObservedIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Records and passes on OpenSSL's own verdict: the probe verifies exactly as strictly.
int Record(int preverified, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* seen = ssl ? static_cast<Observed*>(SSL_get_ex_data(ssl, ObservedIndex())) : nullptr;
  if (seen == nullptr) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  const int depth = X509_STORE_CTX_get_error_depth(store);
  // The server's own certificate, also when the chain fails above it (then the callback never
  // reaches depth 0).
  if (seen->leaf.subject.empty()) seen->leaf = DescribeCertificate(X509_STORE_CTX_get0_cert(store));
  if (preverified == 0 && !seen->failed) {
    seen->failed = true;
    seen->error = X509_STORE_CTX_get_error(store);
    seen->depth = depth;
    seen->failed_cert = DescribeCertificate(cert);
  }
  return preverified;
}

bool IsIpAddress(const std::string& host) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, host.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

Result<SslCtxPtr, std::string> MakeContext(const ConnectionSettings& s) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return std::string("cannot create a TLS context: ") + TakeOpenSslErrors();
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
    std::string why = "cannot load the directory's ca_file ";
    why += s.ca_file.string();
    why += ": ";
    why += TakeOpenSslErrors();
    why += "; it must hold the CA certificates in PEM";
    return why;
  }
  if (s.client_cert_file && s.client_key_file &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), s.client_cert_file->c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), s.client_key_file->c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(ctx.get()) != 1)) {
    std::string why = "cannot use the client certificate ";
    why += s.client_cert_file->string();
    why += " with the key ";
    why += s.client_key_file->string();
    why += ": ";
    why += TakeOpenSslErrors();
    return why;
  }
  return ctx;
}

// The host name (or IP address) the certificate must hold, as libldap checks it.
bool ExpectName(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (IsIpAddress(host)) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
         X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) == 1;
}

// --- StartTLS (RFC 4511 4.14), for ldap:// URLs ---------------------------------------------

// LDAPMessage { messageID 1, extendedReq { requestName "1.3.6.1.4.1.1466.20037" } }.
constexpr unsigned char kStartTlsRequest[] = {
    0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16, '1', '.', '3', '.', '6', '.', '1',
    '.',  '4',  '.',  '1',  '.',  '1',  '4',  '6',  '6',  '.', '2', '0', '0', '3', '7'};

bool ReadExactly(int fd, unsigned char* out, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::read(fd, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// One BER element's length octets (short or long form, at most 4 bytes).
std::optional<std::size_t> ReadLength(int fd) {
  unsigned char first = 0;
  if (!ReadExactly(fd, &first, 1)) return std::nullopt;
  if ((first & 0x80) == 0) return first;
  const int octets = first & 0x7f;
  if (octets == 0 || octets > 4) return std::nullopt;
  std::size_t length = 0;
  for (int i = 0; i < octets; ++i) {
    unsigned char b = 0;
    if (!ReadExactly(fd, &b, 1)) return std::nullopt;
    length = (length << 8) | b;
  }
  return length;
}

// The resultCode of the extendedResp, or nullopt when the answer is not one.
std::optional<int> StartTlsResult(int fd) {
  unsigned char tag = 0;
  if (!ReadExactly(fd, &tag, 1) || tag != 0x30) return std::nullopt;
  const auto length = ReadLength(fd);
  if (!length || *length > 4096 || *length < 8) return std::nullopt;
  std::string body(*length, '\0');
  if (!ReadExactly(fd, reinterpret_cast<unsigned char*>(body.data()), body.size())) {
    return std::nullopt;
  }
  // messageID (02 01 01), then extendedResp (78 LL) whose first element is the resultCode
  // (0a 01 rc); a short-form length is all a StartTLS answer needs.
  const auto at = [&](std::size_t i) { return static_cast<unsigned char>(body[i]); };
  if (at(0) != 0x02 || at(1) != 0x01 || at(3) != 0x78 || (at(4) & 0x80) != 0) return std::nullopt;
  if (at(5) != 0x0a || at(6) != 0x01) return std::nullopt;
  return at(7);
}

std::optional<std::string> StartTls(int fd, const std::string& url) {
  if (::write(fd, kStartTlsRequest, sizeof kStartTlsRequest) !=
      static_cast<ssize_t>(sizeof kStartTlsRequest)) {
    return url + " closed the connection before StartTLS";
  }
  const std::optional<int> rc = StartTlsResult(fd);
  if (!rc) return url + " did not answer StartTLS as an LDAP server does";
  if (*rc != 0) {
    return url + " refused StartTLS (LDAP result " + std::to_string(*rc) +
           "): configure TLS on the server, or use its ldaps:// URL";
  }
  return std::nullopt;
}

// --- The explanation ----------------------------------------------------------------------

bool IsUntrusted(int error) {
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return true;
    default:
      return false;
  }
}

std::string Who(const std::string& url, const SeenCertificate& c) {
  std::string who = "the certificate of ";
  who += url;
  who += " (subject \"";
  who += c.subject;
  who += "\", issuer \"";
  who += c.issuer;
  who += "\")";
  return who;
}

// The server's certificate, and the certificate of its chain that failed when that is another.
std::string Failing(const Observed& o, const std::string& url) {
  std::string who = Who(url, o.leaf);
  if (o.depth > 0) {
    who += ": the certificate \"";
    who += o.failed_cert.subject;
    who += "\" in its chain";
  }
  return who;
}

std::string VerifyFailure(const Observed& o, const config::LdapUrl& url,
                          const ConnectionSettings& s) {
  const std::string who = Failing(o, url.url);
  std::string why;
  if (IsUntrusted(o.error)) {
    // The issuer of the certificate that failed is the CA the file lacks (for a self-signed
    // root sent by the server, the root itself).
    why = Who(url.url, o.leaf) + " is not signed by a CA in the directory's ca_file " +
          s.ca_file.string() + ": put the certificate of \"" + o.failed_cert.issuer +
          "\", the CA its chain leads to, in that file, in PEM";
  } else if (o.error == X509_V_ERR_CERT_HAS_EXPIRED) {
    why = who + " expired on " + o.failed_cert.not_after +
          ": renew the directory server's certificate (if it is in fact still valid, this "
          "host's clock is wrong: " +
          kTimeSyncHint + ")";
  } else if (o.error == X509_V_ERR_CERT_NOT_YET_VALID) {
    why = who + " is not valid before " + o.failed_cert.not_before +
          ": this host's clock is behind, or the certificate was issued with a future start "
          "date; " +
          kTimeSyncHint;
  } else if (o.error == X509_V_ERR_HOSTNAME_MISMATCH || o.error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    why = "the certificate of " + url.url + " is not for \"" + EscapeForLog(url.address.host) +
          "\": it names " + CertificateNamesText(o.leaf.names) + " (subject \"" + o.leaf.subject +
          "\"); write the server in urls with a name the certificate holds, or have its "
          "certificate issued for that name";
  } else {
    why = who + " failed verification at depth " + std::to_string(o.depth) + ": " +
          X509_verify_cert_error_string(o.error);
  }
  return why;
}

// A handshake that failed before, or without, a certificate verdict.
std::string HandshakeFailure(SSL* ssl, int ret, const config::LdapUrl& url) {
  const int error = SSL_get_error(ssl, ret);
  const unsigned long first = ERR_peek_error();
  const std::string what = TakeOpenSslErrors();
  if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN || first == 0) {
    return url.url + " closed the connection during the TLS handshake";
  }
  switch (ERR_GET_REASON(first)) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return url.url + " did not answer with TLS (" + what +
             "): an ldaps:// URL needs the server's LDAPS port (636); for StartTLS write "
             "ldap://";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return url.url + " does not offer TLS 1.2 or later (" + what + ")";
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return url.url + " refused this agent's client certificate (" + what +
             "): check client_cert_file, and that the server trusts its CA";
    default:
      return "the TLS handshake with " + url.url + " failed: " + what;
  }
}

// notAfter as a time point; nullopt when OpenSSL cannot convert it.
std::optional<WallTime> NotAfter(X509* cert) {
  std::tm tm{};
  if (cert == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return std::nullopt;
  return SaturatedWallTimeFromSeconds(static_cast<long long>(timegm(&tm)));
}

}  // namespace

Result<ServerCertificate> ProbeServerCertificate(const config::LdapUrl& url,
                                                 const ConnectionSettings& settings,
                                                 std::chrono::milliseconds timeout) {
  auto ctx = MakeContext(settings);
  if (!ctx.ok()) return Status(Code::kInvalidArgument, ctx.error());
  auto connected = ConnectTcp(url.address.host, url.address.port, timeout);
  if (!connected.ok()) return connected.error();
  Fd fd(*connected);
  DeadlineGuard guard(fd.get(), timeout);
  if (url.transport == config::LdapTransport::kStartTls) {
    if (auto refused = StartTls(fd.get(), url.url)) return Status(Code::kUnavailable, *refused);
  }
  SslPtr ssl(SSL_new(ctx->get()));
  Observed seen;
  if (!ssl || !ExpectName(ssl.get(), url.address.host) || SSL_set_fd(ssl.get(), fd.get()) != 1) {
    std::string why = "cannot set up the TLS probe: ";
    why += TakeOpenSslErrors();
    return Status(Code::kInternal, why);
  }
  SSL_set_ex_data(ssl.get(), ObservedIndex(), &seen);
  SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, Record);
  const int ret = SSL_connect(ssl.get());
  if (ret != 1) {
    if (guard.fired()) {
      ERR_clear_error();
      return Status(Code::kTimeout, "the TLS handshake with " + url.url + " timed out");
    }
    if (seen.failed) {
      ERR_clear_error();
      return Status(Code::kUnavailable, VerifyFailure(seen, url, settings));
    }
    return Status(Code::kUnavailable, HandshakeFailure(ssl.get(), ret, url));
  }
  X509* peer = SSL_get0_peer_certificate(ssl.get());
  const std::optional<WallTime> not_after = NotAfter(peer);
  SSL_shutdown(ssl.get());
  if (!not_after) {
    return Status(Code::kInternal, "cannot read the expiry date of the certificate of " + url.url);
  }
  return ServerCertificate{DescribeCertificate(peer).subject, *not_after};
}

std::optional<std::string> ExplainTlsFailure(const config::LdapUrl& url,
                                             const ConnectionSettings& settings,
                                             std::chrono::milliseconds timeout) {
  auto ctx = MakeContext(settings);
  if (!ctx.ok()) return ctx.error();
  auto connected = ConnectTcp(url.address.host, url.address.port, timeout);
  if (!connected.ok()) return std::nullopt;  // libldap's failure was not TLS's, or it passed
  Fd fd(*connected);
  DeadlineGuard guard(fd.get(), timeout);
  if (url.transport == config::LdapTransport::kStartTls) {
    if (auto refused = StartTls(fd.get(), url.url)) return guard.fired() ? std::nullopt : refused;
  }
  SslPtr ssl(SSL_new(ctx->get()));
  Observed seen;
  if (!ssl || !ExpectName(ssl.get(), url.address.host) || SSL_set_fd(ssl.get(), fd.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  SSL_set_ex_data(ssl.get(), ObservedIndex(), &seen);
  SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, Record);
  const int ret = SSL_connect(ssl.get());
  if (ret == 1) {
    SSL_shutdown(ssl.get());
    return std::nullopt;
  }
  if (guard.fired()) {
    ERR_clear_error();
    return std::nullopt;
  }
  if (seen.failed) {
    ERR_clear_error();
    return VerifyFailure(seen, url, settings);
  }
  return HandshakeFailure(ssl.get(), ret, url);
}

}  // namespace wb::ldap
