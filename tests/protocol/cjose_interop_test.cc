// Interoperability with an independent JOSE implementation (libcjose, test-only): what a cloud
// vendor's library produces, the agent opens; what wbcloud produces, another library reads.
#include <cjose/cjose.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "protocol/base64url.h"
#include "protocol/jose.h"
#include "protocol/jwe.h"
#include "protocol/protocol.h"
#include "tests/protocol/protocol_test_util.h"
#include "tests/support/fake_clock.h"

namespace wb::protocol {
namespace {

using namespace fixtures;  // NOLINT: test vocabulary

struct CjoseJwk {
  cjose_jwk_t* p = nullptr;
  ~CjoseJwk() { cjose_jwk_release(p); }
};

// The same key pair as `key`, as a cjose JWK.
void ToCjose(const EcPrivateKey& key, CjoseJwk& out) {
  BIGNUM* d = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key.native(), OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
  unsigned char dbuf[32];
  ASSERT_EQ(BN_bn2binpad(d, dbuf, 32), 32);
  BN_clear_free(d);
  std::string x, y;
  ASSERT_TRUE(P256Coordinates(key.native(), x, y).ok());
  cjose_jwk_ec_keyspec spec{};
  spec.crv = CJOSE_JWK_EC_P_256;
  spec.d = dbuf;
  spec.dlen = 32;
  spec.x = reinterpret_cast<uint8_t*>(x.data());
  spec.xlen = x.size();
  spec.y = reinterpret_cast<uint8_t*>(y.data());
  spec.ylen = y.size();
  cjose_err err{};
  out.p = cjose_jwk_create_EC_spec(&spec, &err);
  ASSERT_NE(out.p, nullptr) << (err.message ? err.message : "");
}

std::string CjoseSign(const EcPrivateKey& key, std::string_view kid, std::string_view payload) {
  CjoseJwk jwk;
  ToCjose(key, jwk);
  cjose_err err{};
  cjose_header_t* h = cjose_header_new(&err);
  cjose_header_set(h, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err);
  cjose_header_set(h, CJOSE_HDR_KID, std::string(kid).c_str(), &err);
  cjose_header_set(h, "typ", "wbagent-request+jwt", &err);
  cjose_jws_t* jws = cjose_jws_sign(jwk.p, h, reinterpret_cast<const uint8_t*>(payload.data()),
                                    payload.size(), &err);
  EXPECT_NE(jws, nullptr) << (err.message ? err.message : "");
  const char* ser = nullptr;
  std::string out;
  if (jws != nullptr && cjose_jws_export(jws, &ser, &err)) out = ser;
  cjose_jws_release(jws);
  cjose_header_release(h);
  return out;
}

std::string CjoseEncrypt(const Jwk& recipient, std::string_view plaintext) {
  cjose_err err{};
  cjose_jwk_t* jwk =
      cjose_jwk_import(SerializeJwk(recipient).c_str(), SerializeJwk(recipient).size(), &err);
  EXPECT_NE(jwk, nullptr) << (err.message ? err.message : "");
  cjose_header_t* h = cjose_header_new(&err);
  cjose_header_set(h, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ECDH_ES, &err);
  cjose_header_set(h, CJOSE_HDR_ENC, CJOSE_HDR_ENC_A256GCM, &err);
  cjose_header_set(h, CJOSE_HDR_KID, recipient.kid.c_str(), &err);
  cjose_jwe_t* jwe = cjose_jwe_encrypt(jwk, h, reinterpret_cast<const uint8_t*>(plaintext.data()),
                                       plaintext.size(), &err);
  EXPECT_NE(jwe, nullptr) << (err.message ? err.message : "");
  std::string out;
  if (jwe != nullptr) {
    char* ser = cjose_jwe_export(jwe, &err);
    if (ser != nullptr) out = ser;
    free(ser);
  }
  cjose_jwe_release(jwe);
  cjose_header_release(h);
  cjose_jwk_release(jwk);
  return out;
}

class CjoseInteropTest : public ::testing::Test {
 protected:
  CjoseInteropTest() : keys_(MakeKeys()), guard_(NewInMemoryReplayGuard(clock_)) {}
  wb::testing::FakeClock clock_;
  TestKeys keys_;
  std::unique_ptr<ReplayGuard> guard_;
};

TEST_F(CjoseInteropTest, AnEnvelopeBuiltByCjoseOpens) {
  RequestClaims claims = ResetClaims(clock_.Now());
  const std::string jwe =
      CjoseEncrypt(keys_.agent_jwk, R"({"new_password":"Correct-Horse-Battery-42!"})");
  Json payload = ClaimsJson(claims, jwe);
  const std::string envelope = CjoseSign(keys_.cloud, kCloudKid, payload.dump());
  auto r = OpenRequest(envelope, keys_.trusted, keys_.agent, Options(), clock_, *guard_);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->claims.id, claims.id);
  EXPECT_EQ(r->passwords.new_password.view(), kNewPassword);
}

TEST_F(CjoseInteropTest, CjoseVerifiesAndDecryptsWhatSealRequestBuilds) {
  const Passwords pw = MakePasswords(kNewPassword);
  auto envelope =
      SealRequest(ResetClaims(clock_.Now()), &pw, keys_.cloud, kCloudKid, keys_.agent_jwk);
  ASSERT_TRUE(envelope.ok());

  cjose_err err{};
  const std::string cloud_public = SerializeJwk(keys_.trusted.keys[0]);
  cjose_jwk_t* verify_key = cjose_jwk_import(cloud_public.c_str(), cloud_public.size(), &err);
  ASSERT_NE(verify_key, nullptr);
  cjose_jws_t* jws = cjose_jws_import(envelope->c_str(), envelope->size(), &err);
  ASSERT_NE(jws, nullptr);
  EXPECT_TRUE(cjose_jws_verify(jws, verify_key, &err)) << (err.message ? err.message : "");
  cjose_jws_release(jws);
  cjose_jwk_release(verify_key);

  const std::string secret = SecretOf(*envelope);
  CjoseJwk agent;
  ToCjose(keys_.agent, agent);
#if defined(__SANITIZE_ADDRESS__)
  // libcjose 0.6.2.1 leaks one byte per ECDH-ES decryption (also for its own JWEs): not ours.
  __lsan::ScopedDisabler cjose_leaks_one_byte;
#endif
  cjose_jwe_t* jwe = cjose_jwe_import(secret.c_str(), secret.size(), &err);
  ASSERT_NE(jwe, nullptr) << (err.message ? err.message : "");
  std::size_t len = 0;
  uint8_t* plain = cjose_jwe_decrypt(jwe, agent.p, &len, &err);
  ASSERT_NE(plain, nullptr) << (err.message ? err.message : "");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(plain), len),
            R"({"new_password":"Correct-Horse-Battery-42!"})");
  WipeBytes(plain, len);
  free(plain);
  cjose_jwe_release(jwe);
}

TEST_F(CjoseInteropTest, AJweFromCjoseToAnotherKeyIsRefused) {
  auto other = EcPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  Jwk other_jwk = other->PublicJwk("enc", "ECDH-ES");
  other_jwk.kid = keys_.agent_jwk.kid;  // same kid, different key
  WipedString plaintext;
  auto rejection = JweDecrypt(CjoseEncrypt(other_jwk, R"({"new_password":"x"})"),
                              keys_.agent.native(), keys_.agent_jwk.kid, plaintext);
  ASSERT_TRUE(rejection.has_value());
  EXPECT_EQ(rejection->code, RejectCode::kDecryptFailed);
}

}  // namespace
}  // namespace wb::protocol
