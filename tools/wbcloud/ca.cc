#include "tools/wbcloud/ca.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/hex.h"
#include "common/log_escape.h"
#include "common/openssl_error.h"
#include "common/openssl_ptr.h"

namespace wb::cloud {
namespace {

X509Ptr ReadCert(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

Result<std::string> ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("cannot encode a certificate");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

bool SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::time_t ToTimeT(WallTime t) { return std::chrono::system_clock::to_time_t(t); }

// A certificate skeleton: v3, random serial, validity from a minute before `now` (clock skew)
// for `lifetime`, subject CN=`cn`, public key `pub`.
Result<X509Ptr> NewCertificate(std::string_view cn, EVP_PKEY* pub, WallTime now,
                               std::chrono::seconds lifetime) {
  X509Ptr cert(X509_new());
  X509_NAME* name = cert ? X509_get_subject_name(cert.get()) : nullptr;
  const std::string cn_text(cn);
  if (!cert || X509_set_version(cert.get(), 2) != 1 || !SetRandomSerial(cert.get()) ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn_text.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_pubkey(cert.get(), pub) != 1) {
    return OpenSslError("cannot build a certificate");
  }
  std::time_t not_before = ToTimeT(now) - 60;
  std::time_t not_after = ToTimeT(now) + static_cast<std::time_t>(lifetime.count());
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &not_before) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, 0, &not_after) == nullptr) {
    return OpenSslError("cannot set certificate validity");
  }
  return cert;
}

Result<IssuedCertificate> Finish(X509* cert, EVP_PKEY* signer, WallTime now,
                                 std::chrono::seconds lifetime) {
  if (X509_sign(cert, signer, EVP_sha256()) <= 0) {
    return OpenSslError("cannot sign a certificate");
  }
  auto pem = ToPem(cert);
  if (!pem.ok()) return pem.error();
  return IssuedCertificate{*pem, CertificateFingerprint(cert), now + lifetime};
}

}  // namespace

Result<std::string> MakeCaCertificate(const protocol::EcPrivateKey& key, std::string_view name,
                                      WallTime now) {
  auto cert = NewCertificate(name, key.native(), now, std::chrono::hours(24 * 3650));
  if (!cert.ok()) return cert.error();
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(c)) != 1 ||
      !AddExtension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !AddExtension(c, c, NID_subject_key_identifier, "hash")) {
    return OpenSslError("cannot build the CA certificate");
  }
  auto issued = Finish(c, key.native(), now, std::chrono::hours(24 * 3650));
  if (!issued.ok()) return issued.error();
  return issued->pem;
}

Result<CertificateAuthority> CertificateAuthority::Load(std::string_view cert_pem,
                                                        protocol::EcPrivateKey key) {
  X509Ptr cert = ReadCert(cert_pem);
  if (!cert) return Status(Code::kCorruption, "the CA certificate is not PEM");
  if (X509_check_private_key(cert.get(), key.native()) != 1) {
    ERR_clear_error();
    return Status(Code::kCorruption, "the CA certificate does not match the CA key");
  }
  return CertificateAuthority(std::string(cert_pem), std::move(key));
}

Result<IssuedCertificate> CertificateAuthority::IssueServer(const protocol::EcPrivateKey& key,
                                                            const std::vector<std::string>& names,
                                                            WallTime now,
                                                            std::chrono::seconds lifetime) const {
  X509Ptr ca = ReadCert(cert_pem_);
  if (!ca) return Internal("the CA certificate cannot be read");
  auto cert = NewCertificate("wbcloud", key.native(), now, lifetime);
  if (!cert.ok()) return cert.error();
  std::string sans;
  for (const auto& n : names) sans += (sans.empty() ? "" : ",") + n;
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(ca.get())) != 1 ||
      !AddExtension(c, ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExtension(c, ca.get(), NID_key_usage, "critical,digitalSignature") ||
      !AddExtension(c, ca.get(), NID_ext_key_usage, "serverAuth") ||
      !AddExtension(c, ca.get(), NID_subject_alt_name, sans.c_str()) ||
      !AddExtension(c, ca.get(), NID_authority_key_identifier, "keyid")) {
    return OpenSslError("cannot build the server certificate");
  }
  return Finish(c, key_.native(), now, lifetime);
}

Result<IssuedCertificate> CertificateAuthority::IssueClient(std::string_view csr_pem,
                                                            std::string_view agent_id, WallTime now,
                                                            std::chrono::seconds lifetime) const {
  BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  X509ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) {
    ERR_clear_error();
    return InvalidArgument("the CSR is not a PEM certificate request");
  }
  PkeyPtr pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the CSR's signature does not verify");
  }
  char curve[64] = {0};
  std::size_t curve_len = 0;
  if (EVP_PKEY_get_base_id(pub.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(pub.get(), "group", curve, sizeof curve, &curve_len) != 1 ||
      std::string_view(curve) != "prime256v1") {
    ERR_clear_error();
    return InvalidArgument("the CSR's key is not an EC P-256 key");
  }
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req.get()), NID_commonName, cn,
                                sizeof cn) <= 0 ||
      std::string_view(cn) != agent_id) {
    ERR_clear_error();
    return InvalidArgument("the CSR's subject must be CN=" + EscapeForLog(agent_id));
  }
  X509Ptr ca = ReadCert(cert_pem_);
  if (!ca) return Internal("the CA certificate cannot be read");
  auto cert = NewCertificate(agent_id, pub.get(), now, lifetime);
  if (!cert.ok()) return cert.error();
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(ca.get())) != 1 ||
      !AddExtension(c, ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExtension(c, ca.get(), NID_key_usage, "critical,digitalSignature") ||
      !AddExtension(c, ca.get(), NID_ext_key_usage, "clientAuth") ||
      !AddExtension(c, ca.get(), NID_authority_key_identifier, "keyid")) {
    return OpenSslError("cannot build the client certificate");
  }
  return Finish(c, key_.native(), now, lifetime);
}

std::string CertificateFingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

Result<std::string> CertificateFingerprint(std::string_view pem) {
  X509Ptr cert = ReadCert(pem);
  if (!cert) {
    ERR_clear_error();
    return InvalidArgument("not a PEM certificate");
  }
  return CertificateFingerprint(cert.get());
}

}  // namespace wb::cloud
