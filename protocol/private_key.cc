// EcPrivateKey: P-256 private keys, generated here and kept in 0600 PEM files.
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "common/files.h"
#include "protocol/base64url.h"
#include "protocol/internal.h"
#include "protocol/jose.h"

namespace wb::protocol {
namespace {

int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

void EcPrivateKey::Free::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

EcPrivateKey::EcPrivateKey(EVP_PKEY* pkey) : pkey_(pkey) {
  std::string x, y;
  if (!P256Coordinates(pkey_.get(), x, y).ok()) return;  // not reachable: P-256 checked
  public_.x = Base64UrlEncode(x);
  public_.y = Base64UrlEncode(y);
  public_.kid = Thumbprint(public_);
}

EcPrivateKey::EcPrivateKey(EcPrivateKey&&) noexcept = default;
EcPrivateKey& EcPrivateKey::operator=(EcPrivateKey&&) noexcept = default;
EcPrivateKey::~EcPrivateKey() = default;

Result<EcPrivateKey> EcPrivateKey::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  return EcPrivateKey(key);
}

Result<EcPrivateKey> EcPrivateKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  if (raw == nullptr) {
    ClearOpenSslErrors();
    return InvalidArgument("not an unencrypted PEM private key");
  }
  PkeyPtr key(raw);
  if (!IsP256(key.get())) return InvalidArgument("the private key is not an EC P-256 key");
  return EcPrivateKey(key.release());
}

Result<EcPrivateKey> EcPrivateKey::Load(const std::filesystem::path& path) {
  auto pem = ReadSecretFile(path);
  if (!pem.ok()) return pem.error();
  auto key = FromPem(pem->view());
  if (!key.ok()) return key.error().WithContext(path.string());
  return key;
}

Secret EcPrivateKey::ToPem() const {
  // A secure-heap memory BIO: the PEM text is cleansed when the BIO is freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    ClearOpenSslErrors();
    return Secret();
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return Secret(std::string_view(data, len > 0 ? static_cast<std::size_t>(len) : 0));
}

Status EcPrivateKey::Save(const std::filesystem::path& path) const {
  const Secret pem = ToPem();
  if (pem.empty()) return Internal("could not encode the private key as PEM");
  return WriteFileAtomic(path, pem.view(), 0600);
}

Jwk EcPrivateKey::PublicJwk(std::string_view use, std::string_view alg) const {
  Jwk jwk = public_;
  jwk.use = use;
  jwk.alg = alg;
  return jwk;
}

}  // namespace wb::protocol
