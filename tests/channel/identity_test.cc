// channel/identity.h's reading of certificates, on certificates made here with OpenSSL.
#include "channel/identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace wb::channel {
namespace {

// A self-signed P-256 certificate valid from `not_before` to `not_after` (ASN.1 time text,
// e.g. "20260101000000Z"), as PEM.
std::string SelfSigned(const char* not_before, const char* not_after) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  if (!key || !cert) return "";
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("far-future"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  ASN1_TIME_set_string_X509(X509_getm_notBefore(cert.get()), not_before);
  ASN1_TIME_set_string_X509(X509_getm_notAfter(cert.get()), not_after);
  X509_set_pubkey(cert.get(), key.get());
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(out.get(), cert.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// RFC 5280 gives notAfter 99991231235959Z to a certificate without a well-defined expiry;
// WallTime ends in 2262. Before, the date overflowed into the past and the renewal check with
// it: now it is held at the end of the range, "far in the future", and renewal is due between.
TEST(IdentityTest, ACertificateValidUntilTheYear9999ExpiresFarInTheFuture) {
  const std::string pem = SelfSigned("20260101000000Z", "99991231235959Z");
  ASSERT_FALSE(pem.empty());
  auto info = ParseCertificate(pem);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->not_after, WallTime::max());
  EXPECT_EQ(FormatUtcSeconds(info->not_before), "2026-01-01T00:00:00Z");
  const WallTime due = RenewalDue(*info);
  EXPECT_GT(due, info->not_before + std::chrono::hours(24 * 365 * 150));
  EXPECT_LT(due, info->not_after);
}

TEST(IdentityTest, RenewalIsDueAfterTwoThirdsOfAnOrdinaryLifetime) {
  const std::string pem = SelfSigned("20260101000000Z", "20260131000000Z");
  auto info = ParseCertificate(pem);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(FormatUtcSeconds(RenewalDue(*info)), "2026-01-21T00:00:00Z");
}

}  // namespace
}  // namespace wb::channel
