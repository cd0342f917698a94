// JWK / JWKS and private key files.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "protocol/protocol.h"

namespace wb::protocol {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "wb-protocol-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string PemOf(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr, const char* pass = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, pass, pass ? static_cast<int>(strlen(pass)) : 0,
                                nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

TEST(Jwk, PublicJwkRoundTripsAndItsKidIsTheThumbprint) {
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const Jwk jwk = key->PublicJwk("enc", "ECDH-ES");
  EXPECT_EQ(jwk.kid, Thumbprint(jwk));
  EXPECT_EQ(jwk.x.size(), 43u);
  auto parsed = ParseJwk(SerializeJwk(jwk));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->kid, jwk.kid);
  EXPECT_EQ(parsed->x, jwk.x);
  EXPECT_EQ(parsed->y, jwk.y);
  EXPECT_EQ(parsed->use, "enc");
  EXPECT_EQ(parsed->alg, "ECDH-ES");
}

TEST(Jwk, RefusesAPrivateKeyMember) {
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  std::string text = SerializeJwk(key->PublicJwk());
  text.insert(1, R"("d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",)");
  auto r = ParseJwk(text);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("private"), std::string::npos);
  // ...and never quotes it.
  EXPECT_EQ(r.error().message().find("jpsQnn"), std::string::npos);
}

TEST(Jwk, RefusesOtherKeyTypesCurvesAndBadPoints) {
  const std::string x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
  const std::string y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
  auto jwk = [&](std::string_view kty, std::string_view crv, std::string_view yy,
                 std::string_view extra = "") {
    return R"({"kty":")" + std::string(kty) + R"(","crv":")" + std::string(crv) + R"(","x":")" + x +
           R"(","y":")" + std::string(yy) + R"(","kid":"k")" + std::string(extra) + "}";
  };
  EXPECT_TRUE(ParseJwk(jwk("EC", "P-256", y)).ok());
  EXPECT_FALSE(ParseJwk(jwk("RSA", "P-256", y)).ok());
  EXPECT_FALSE(ParseJwk(jwk("EC", "P-384", y)).ok());
  EXPECT_FALSE(ParseJwk(jwk("EC", "P-256", x)).ok());  // not on the curve
  EXPECT_FALSE(ParseJwk(jwk("EC", "P-256", y, R"(,"use":"wrap")")).ok());
  EXPECT_FALSE(ParseJwk(jwk("EC", "P-256", y, R"(,"alg":"HS256")")).ok());
  EXPECT_FALSE(ParseJwk(jwk("EC", "P-256", y, R"(,"x5c":[])")).ok());
  EXPECT_FALSE(ParseJwk(R"({"kty":"EC","crv":"P-256","x":")" + x + R"(","y":")" + y + "\"}").ok());
}

TEST(Jwks, RoundTripFindAndDuplicateKids) {
  auto a = EcPrivateKey::Generate();
  auto b = EcPrivateKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  Jwks set{{a->PublicJwk("sig", "ES256"), b->PublicJwk("sig", "ES256")}};
  auto parsed = ParseJwks(SerializeJwks(set));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  ASSERT_EQ(parsed->keys.size(), 2u);
  ASSERT_NE(parsed->Find(set.keys[1].kid), nullptr);
  EXPECT_EQ(parsed->Find(set.keys[1].kid)->x, set.keys[1].x);
  EXPECT_EQ(parsed->Find("nope"), nullptr);
  set.keys[1].kid = set.keys[0].kid;
  EXPECT_FALSE(ParseJwks(SerializeJwks(set)).ok());
  EXPECT_FALSE(ParseJwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(ParseJwks(R"({"keys":[],"extra":1})").ok());
}

TEST(PrivateKey, SaveWritesMode0600AndLoadReadsItBack) {
  TempDir dir;
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const fs::path path = dir.path() / "encryption.key";
  ASSERT_TRUE(key->Save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = EcPrivateKey::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->PublicJwk().kid, key->PublicJwk().kid);
  EXPECT_NE(key->ToPem().view().find("BEGIN PRIVATE KEY"), std::string_view::npos);
  // Saving again replaces the file and leaves no temporary behind.
  ASSERT_TRUE(key->Save(path).ok());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(PrivateKey, AKeyFileOthersCanReadIsRefused) {
  TempDir dir;
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const fs::path path = dir.path() / "agent.key";
  ASSERT_TRUE(key->Save(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto loaded = EcPrivateKey::Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code(), Code::kPermissionDenied);
  EXPECT_NE(loaded.error().message().find("0644"), std::string::npos) << loaded.error().message();
  EXPECT_EQ(loaded.error().message().find("PRIVATE KEY"), std::string::npos);
}

TEST(PrivateKey, RefusesOtherCurvesEncryptedPemAndGarbage) {
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  EXPECT_FALSE(EcPrivateKey::FromPem(PemOf(p384)).ok());
  EVP_PKEY_free(p384);

  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  // An encrypted key is refused without prompting for a passphrase.
  EXPECT_FALSE(EcPrivateKey::FromPem(PemOf(key->native(), EVP_aes_256_cbc(), "passphrase")).ok());
  EXPECT_TRUE(EcPrivateKey::FromPem(PemOf(key->native())).ok());
  EXPECT_FALSE(EcPrivateKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n").ok());
  EXPECT_FALSE(EcPrivateKey::Load("/nonexistent/key.pem").ok());
}

}  // namespace
}  // namespace wb::protocol
