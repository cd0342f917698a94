#pragma once
// wbcloud's certificate authority: its own P-256 CA, the server certificate agents verify,
// and client certificates issued from agents' CSRs (enrollment and renewal).

#include <openssl/x509.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "protocol/protocol.h"

namespace wb::cloud {

struct IssuedCertificate {
  std::string pem;          // the certificate alone
  std::string fingerprint;  // SHA-256 of its DER, lowercase hex
  WallTime not_after{};
};

// A self-signed CA certificate for `key`, valid 10 years.
Result<std::string> MakeCaCertificate(const protocol::EcPrivateKey& key, std::string_view name,
                                      WallTime now);

class CertificateAuthority {
 public:
  // REQUIRES: `cert_pem` is the CA certificate of `key`.
  static Result<CertificateAuthority> Load(std::string_view cert_pem, protocol::EcPrivateKey key);

  // A TLS server certificate for `key` with the subjectAltNames `names` ("DNS:x", "IP:y").
  Result<IssuedCertificate> IssueServer(const protocol::EcPrivateKey& key,
                                        const std::vector<std::string>& names, WallTime now,
                                        std::chrono::seconds lifetime) const;

  // A client certificate (CN = agent_id, clientAuth) for the key of a CSR. The CSR must be
  // PEM, carry a valid self-signature, hold a P-256 key and name CN = agent_id.
  Result<IssuedCertificate> IssueClient(std::string_view csr_pem, std::string_view agent_id,
                                        WallTime now, std::chrono::seconds lifetime) const;

  const std::string& certificate_pem() const { return cert_pem_; }

 private:
  CertificateAuthority(std::string cert_pem, protocol::EcPrivateKey key)
      : cert_pem_(std::move(cert_pem)), key_(std::move(key)) {}
  std::string cert_pem_;
  protocol::EcPrivateKey key_;
};

// SHA-256 of a certificate's DER, lowercase hex (of the first certificate in `pem`).
Result<std::string> CertificateFingerprint(std::string_view pem);
std::string CertificateFingerprint(X509* cert);

}  // namespace wb::cloud
