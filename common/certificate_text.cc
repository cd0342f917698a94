#include "common/certificate_text.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/log_escape.h"

namespace wb {
namespace {

std::string NameText(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out = EscapeForLog(std::string_view(data, static_cast<std::size_t>(len)), 200);
  BIO_free(bio);
  return out.empty() ? "(empty)" : out;
}

std::string TimeText(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> AltNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans) && names.size() < 10; ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
    if (n->type == GEN_DNS) {
      const ASN1_IA5STRING* s = n->d.dNSName;
      names.push_back("DNS:" + EscapeForLog(std::string_view(reinterpret_cast<const char*>(s->data),
                                                             static_cast<std::size_t>(s->length)),
                                            100));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = n->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {0};
      if (ip->length == 4) inet_ntop(AF_INET, ip->data, buf, sizeof buf);
      if (ip->length == 16) inet_ntop(AF_INET6, ip->data, buf, sizeof buf);
      names.push_back(std::string("IP:") + buf);
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

}  // namespace

SeenCertificate DescribeCertificate(X509* cert) {
  SeenCertificate seen;
  if (cert == nullptr) return seen;
  seen.subject = NameText(X509_get_subject_name(cert));
  seen.issuer = NameText(X509_get_issuer_name(cert));
  seen.not_before = TimeText(X509_get0_notBefore(cert));
  seen.not_after = TimeText(X509_get0_notAfter(cert));
  seen.names = AltNames(cert);
  return seen;
}

std::string CertificateNamesText(const std::vector<std::string>& names) {
  if (names.empty()) return "no subjectAltName";
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace wb
