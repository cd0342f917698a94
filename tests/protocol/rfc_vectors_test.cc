// The JOSE primitives against the examples published in the RFCs.
#include <gtest/gtest.h>

#include <vector>

#include "protocol/base64url.h"
#include "protocol/jose.h"
#include "protocol/protocol.h"

namespace wb::protocol {
namespace {

std::string B64(std::string_view s) { return Base64UrlDecode(s).value_or("<bad base64url>"); }

std::string Bytes(std::initializer_list<int> v) {
  std::string out;
  for (int b : v) out.push_back(static_cast<char>(b));
  return out;
}

// RFC 7515 Appendix A.3: "Example JWS Using ECDSA P-256 SHA-256".
constexpr std::string_view kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr std::string_view kA3SigningInput =
    "eyJhbGciOiJFUzI1NiJ9"
    "."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q";
constexpr std::string_view kA3Signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

TEST(Rfc7515, A3Es256SignatureVerifies) {
  auto key = P256PublicKey(B64(kA3X), B64(kA3Y));
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_TRUE(Es256Verify(key->get(), kA3SigningInput, B64(kA3Signature)));
}

TEST(Rfc7515, A3AlteredPayloadOrSignatureFails) {
  auto key = P256PublicKey(B64(kA3X), B64(kA3Y));
  ASSERT_TRUE(key.ok());
  std::string input(kA3SigningInput);
  input.back() = input.back() == 'Q' ? 'R' : 'Q';
  EXPECT_FALSE(Es256Verify(key->get(), input, B64(kA3Signature)));
  std::string sig = B64(kA3Signature);
  sig[10] = static_cast<char>(sig[10] ^ 1);
  EXPECT_FALSE(Es256Verify(key->get(), kA3SigningInput, sig));
  // The DER form, or a truncated raw form, is not an ES256 signature.
  EXPECT_FALSE(Es256Verify(key->get(), kA3SigningInput, B64(kA3Signature).substr(0, 63)));
}

TEST(Rfc7515, SignThenVerifyWithA3Key) {
  auto key =
      P256PrivateKey(B64("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"), B64(kA3X), B64(kA3Y));
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  auto sig = Es256Sign(key->get(), kA3SigningInput);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(Es256Verify(key->get(), kA3SigningInput, *sig));
}

// RFC 7638: the thumbprint of the A.3 key, computed independently (Python hashlib over the
// canonical {"crv","kty","x","y"} form).
TEST(Rfc7638, ThumbprintOfA3Key) {
  Jwk jwk{"", std::string(kA3X), std::string(kA3Y), "", ""};
  EXPECT_EQ(Thumbprint(jwk), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
}

// RFC 7518 Appendix C: "Example ECDH-ES Key Agreement Computation".
TEST(Rfc7518, AppendixCSharedSecretAndDerivedKey) {
  auto alice = P256PrivateKey(B64("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"),
                              B64("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"),
                              B64("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"));
  auto bob = P256PrivateKey(B64("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"),
                            B64("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ"),
                            B64("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"));
  ASSERT_TRUE(alice.ok() && bob.ok());
  const std::string expected_z =
      Bytes({158, 86, 217, 29,  129, 113, 53,  211, 114, 131, 66,  131, 191, 132, 38,  156,
             251, 49, 110, 163, 218, 128, 106, 72,  246, 218, 167, 121, 140, 254, 144, 196});
  WipedString z_alice, z_bob;
  ASSERT_TRUE(EcdhSharedSecret(alice->get(), bob->get(), z_alice).ok());
  ASSERT_TRUE(EcdhSharedSecret(bob->get(), alice->get(), z_bob).ok());
  EXPECT_EQ(z_alice.view(), expected_z);
  EXPECT_EQ(z_bob.view(), expected_z);

  WipedString key;
  ASSERT_TRUE(ConcatKdf(expected_z, "A128GCM", "Alice", "Bob", 16, key).ok());
  EXPECT_EQ(Base64UrlEncode(key.view()), "VqqN6vgjbSBcIijNcacQGg");
}

// RFC 7520 section 5.5: "Key Agreement Using ECDH-ES with AES-CBC-HMAC-SHA2" (P-256, direct
// key agreement, no apu/apv): the agreed CEK of Figure 123, which checks the AlgorithmID = enc
// rule of ECDH-ES direct mode and a 256-bit output.
TEST(Rfc7520, Section55AgreedContentEncryptionKey) {
  auto recipient = P256PrivateKey(B64("r_kHyZ-a06rmxM3yESK84r1otSg-aQcVStkRhA-iCM8"),
                                  B64("Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0"),
                                  B64("HlLtdXARY_f55A3fnzQbPcm6hgr34Mp8p-nuzQCE0Zw"));
  auto epk = P256PublicKey(B64("mPUKT_bAWGHIhg0TpjjqVsP1rXWQu_vwVOHHtNkdYoA"),
                           B64("8BQAsImGeAS46fyWw5MhYfGTT0IjBpFw2SS34Dv4Irs"));
  ASSERT_TRUE(recipient.ok() && epk.ok());
  WipedString z, cek;
  ASSERT_TRUE(EcdhSharedSecret(recipient->get(), epk->get(), z).ok());
  ASSERT_TRUE(ConcatKdf(z.view(), "A128CBC-HS256", "", "", 32, cek).ok());
  EXPECT_EQ(Base64UrlEncode(cek.view()), "hzHdlfQIAEehb8Hrd_mFRhKsKLEzPfshfXs9l6areCc");
}

// RFC 7516 Appendix A.1 (RSAES-OAEP and AES GCM): the A256GCM step, from the given CEK.
constexpr std::string_view kA1Header = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ";
constexpr std::string_view kA1Ciphertext =
    "5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A";
constexpr std::string_view kA1Tag = "XFBoMYUZodetZdvTiFvSkQ";

std::string A1Cek() {
  return Bytes({177, 161, 244, 128, 84,  143, 225, 115, 63, 180, 3,   255, 107, 154, 212, 246,
                138, 7,   110, 91,  112, 46,  34,  105, 47, 130, 203, 46,  122, 234, 64,  252});
}
std::string A1Iv() { return Bytes({227, 197, 117, 252, 2, 219, 233, 68, 180, 225, 77, 219}); }

TEST(Rfc7516, A1AesGcmDecrypts) {
  WipedString plaintext;
  ASSERT_TRUE(
      AesGcmDecrypt(A1Cek(), A1Iv(), kA1Header, B64(kA1Ciphertext), B64(kA1Tag), plaintext).ok());
  EXPECT_EQ(plaintext.view(), "The true sign of intelligence is not knowledge but imagination.");
}

TEST(Rfc7516, A1AesGcmEncryptsToTheSameCiphertext) {
  std::string ciphertext, tag;
  ASSERT_TRUE(AesGcmEncrypt(A1Cek(), A1Iv(), kA1Header,
                            "The true sign of intelligence is not knowledge but imagination.",
                            ciphertext, tag)
                  .ok());
  EXPECT_EQ(Base64UrlEncode(ciphertext), kA1Ciphertext);
  EXPECT_EQ(Base64UrlEncode(tag), kA1Tag);
}

TEST(Rfc7516, A1TamperedTagOrAadOrShortTagFails) {
  WipedString plaintext;
  std::string tag = B64(kA1Tag);
  tag[0] = static_cast<char>(tag[0] ^ 0x80);
  EXPECT_FALSE(AesGcmDecrypt(A1Cek(), A1Iv(), kA1Header, B64(kA1Ciphertext), tag, plaintext).ok());
  EXPECT_TRUE(plaintext.view().empty());
  std::string aad(kA1Header);
  aad[3] = 'X';
  EXPECT_FALSE(
      AesGcmDecrypt(A1Cek(), A1Iv(), aad, B64(kA1Ciphertext), B64(kA1Tag), plaintext).ok());
  // A truncated tag is refused outright, never checked as a shorter tag (cf. CVE-2023-37464).
  EXPECT_FALSE(AesGcmDecrypt(A1Cek(), A1Iv(), kA1Header, B64(kA1Ciphertext),
                             B64(kA1Tag).substr(0, 1), plaintext)
                   .ok());
}

TEST(Base64Url, StrictDecoding) {
  EXPECT_EQ(Base64UrlDecode("QWxpY2U"), "Alice");
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_FALSE(Base64UrlDecode("QWxpY2U="));  // padding
  EXPECT_FALSE(Base64UrlDecode("QWxp+2U"));   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("QWx pY2U"));  // whitespace
  EXPECT_FALSE(Base64UrlDecode("QWxpY"));     // length 1 mod 4
  EXPECT_FALSE(Base64UrlDecode("QWxpY2V"));   // non-zero unused bits
  EXPECT_EQ(Base64UrlEncode("Alice"), "QWxpY2U");
}

TEST(P256, PointOffTheCurveIsRefused) {
  std::string x = B64(kA3X);
  std::string y = B64(kA3Y);
  y[31] = static_cast<char>(y[31] ^ 1);
  EXPECT_FALSE(P256PublicKey(x, y).ok());
  EXPECT_FALSE(P256PublicKey(std::string(32, '\0'), std::string(32, '\0')).ok());
}

}  // namespace
}  // namespace wb::protocol
