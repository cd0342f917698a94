#pragma once
// A certificate described for an error message: who it is for, who signed it, when it is
// valid, which names it holds. Shared by the cloud channel's and the directory's TLS errors,
// so that both explain a refused certificate in the same words.

#include <openssl/x509.h>

#include <string>
#include <vector>

namespace wb {

// Every field is already escaped (EscapeForLog): a certificate is peer data.
struct SeenCertificate {
  std::string subject;  // RFC 2253, e.g. "CN=dc1.corp.example,O=Corp"
  std::string issuer;
  std::string not_before;  // "2026-11-22T04:55:26Z"
  std::string not_after;
  std::vector<std::string> names;  // subjectAltName DNS and IP entries: "DNS:a", "IP:10.0.0.1"
};

// An empty SeenCertificate for nullptr.
SeenCertificate DescribeCertificate(X509* cert);

// "DNS:a, IP:10.0.0.1", or "no subjectAltName".
std::string CertificateNamesText(const std::vector<std::string>& names);

}  // namespace wb
