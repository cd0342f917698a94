#include "channel/identity.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log_escape.h"
#include "common/openssl_error.h"
#include "common/openssl_ptr.h"

namespace wb::channel {
namespace {

using Json = nlohmann::json;

std::int64_t ToUnix(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
WallTime FromUnix(std::int64_t s) { return WallTime(std::chrono::seconds(s)); }

// Whether FromUnix can hold the seconds of `seconds`.
bool FitsWallTime(const Json& seconds) {
  return WallTimeSinceEpoch<std::chrono::seconds>(seconds.get<std::int64_t>()).has_value();
}

Result<WallTime> Asn1Time(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return InvalidArgument("certificate has an invalid time");
  // A date beyond 2261 (notAfter 9999-12-31 is common) would overflow WallTime's nanoseconds.
  return SaturatedWallTimeFromSeconds(static_cast<long long>(timegm(&tm)));
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno, "cannot read " + path.string());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > max_bytes) {
    return InvalidArgument(path.string() + " is larger than " + std::to_string(max_bytes) +
                           " bytes");
  }
  return data;
}

std::string NameText(const X509_NAME* name) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return EscapeForLog(std::string_view(data, static_cast<std::size_t>(len)));
}

std::string NameDer(const X509_NAME* name) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_NAME(name, &der);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

X509NamePtr ParseNameDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509NamePtr(d2i_X509_NAME(nullptr, &p, static_cast<long>(der.size())));
}

}  // namespace

Status EnsurePrivateDirectory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  if (errno != EEXIST) return ErrnoStatus(errno, "cannot create " + dir.string());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot stat " + dir.string());
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition(dir.string() + " is not a directory");
  return Status::Ok();
}

Result<Enrollment> LoadEnrollment(const StatePaths& paths) {
  if (!std::filesystem::exists(paths.enrollment())) {
    return NotFound("this agent is not enrolled (" + paths.enrollment().string() +
                    " does not exist): run `wbagent register --token-file -`");
  }
  auto text = ReadSmallFile(paths.enrollment(), 256 * 1024);
  if (!text.ok()) return text.error();
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  // Every field's type is checked before it is read: json::value() throws on a wrong type, and
  // an exception here would end the channel's reconnect loop for good.
  const auto has = [&j](const char* key, bool (Json::*is)() const noexcept) {
    return j.contains(key) && (j[key].*is)();
  };
  const auto optional_ok = [&j](const char* key, bool (Json::*is)() const noexcept) {
    return !j.contains(key) || (j[key].*is)();
  };
  if (!j.is_object() || !has("agent_id", &Json::is_string) || !has("tenant", &Json::is_string) ||
      !optional_ok("agent_url", &Json::is_string) ||
      !optional_ok("enrolled_at", &Json::is_number_integer) ||
      !optional_ok("keys_issued_at", &Json::is_number_integer) ||
      !optional_ok("keyset_jws", &Json::is_string) ||
      (j.contains("enrolled_at") && !FitsWallTime(j["enrolled_at"])) ||
      (j.contains("keys_issued_at") && !FitsWallTime(j["keys_issued_at"]))) {
    return Status(Code::kCorruption,
                  paths.enrollment().string() + " is not a valid enrollment record");
  }
  Enrollment e;
  e.agent_id = j["agent_id"].get<std::string>();
  e.tenant = j["tenant"].get<std::string>();
  e.agent_url = j.value("agent_url", "");
  e.enrolled_at = FromUnix(j.value("enrolled_at", std::int64_t{0}));
  if (j.contains("keys_issued_at"))
    e.keys_issued_at = FromUnix(j["keys_issued_at"].get<std::int64_t>());
  e.keyset_jws = j.value("keyset_jws", "");
  return e;
}

Status SaveEnrollment(const StatePaths& paths, const Enrollment& e) {
  Json j = {{"agent_id", e.agent_id},
            {"tenant", e.tenant},
            {"agent_url", e.agent_url},
            {"enrolled_at", ToUnix(e.enrolled_at)}};
  if (e.keys_issued_at) j["keys_issued_at"] = ToUnix(*e.keys_issued_at);
  if (!e.keyset_jws.empty()) j["keyset_jws"] = e.keyset_jws;
  return WriteFileAtomic(paths.enrollment(), j.dump(2) + "\n", 0600);
}

Result<protocol::Jwks> LoadCloudKeys(const StatePaths& paths) {
  if (!std::filesystem::exists(paths.cloud_keys())) {
    return NotFound("the cloud's signing keys are missing (" + paths.cloud_keys().string() +
                    " does not exist): run `wbagent register --token-file -`");
  }
  auto text = ReadSmallFile(paths.cloud_keys(), 256 * 1024);
  if (!text.ok()) return text.error();
  auto keys = protocol::ParseJwks(*text);
  if (!keys.ok())
    return Status(Code::kCorruption, paths.cloud_keys().string() + ": " + keys.error().message());
  return keys;
}

Status SaveCloudKeys(const StatePaths& paths, const protocol::Jwks& keys) {
  return WriteFileAtomic(paths.cloud_keys(), protocol::SerializeJwks(keys) + "\n", 0644);
}

Result<std::string> MakeCsr(const protocol::EcPrivateKey& key, std::string_view common_name) {
  X509ReqPtr req(X509_REQ_new());
  X509NamePtr name(X509_NAME_new());
  const std::string cn(common_name);
  if (!req || !name ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.native()) != 1 ||
      X509_REQ_sign(req.get(), key.native(), EVP_sha256()) <= 0) {
    return OpenSslError("cannot make a certificate request");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return OpenSslError("cannot encode the certificate request");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

bool CertificateInfo::matches(const protocol::EcPrivateKey& key) const {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.native(), &der);
  if (len <= 0) return false;
  const bool same =
      public_key_der == std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return same;
}

bool CertificateInfo::same_issuer(const CertificateInfo& other) const {
  const X509NamePtr mine = ParseNameDer(issuer_der);
  const X509NamePtr theirs = ParseNameDer(other.issuer_der);
  const bool same = mine && theirs && X509_NAME_cmp(mine.get(), theirs.get()) == 0;
  ERR_clear_error();
  return same;
}

Result<CertificateInfo> ParseCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    return InvalidArgument("not a PEM certificate");
  }
  CertificateInfo info;
  auto nb = Asn1Time(X509_get0_notBefore(cert.get()));
  auto na = Asn1Time(X509_get0_notAfter(cert.get()));
  if (!nb.ok()) return nb.error();
  if (!na.ok()) return na.error();
  info.not_before = *nb;
  info.not_after = *na;
  info.subject = NameText(X509_get_subject_name(cert.get()));
  info.issuer = NameText(X509_get_issuer_name(cert.get()));
  info.issuer_der = NameDer(X509_get_issuer_name(cert.get()));
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) >
      0) {
    info.common_name = cn;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (der_len > 0) {
    info.public_key_der.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len));
    OPENSSL_free(der);
  }
  ERR_clear_error();
  return info;
}

Result<CertificateInfo> ReadCertificate(const std::filesystem::path& file) {
  auto text = ReadSmallFile(file, 256 * 1024);
  if (!text.ok()) return text.error();
  auto info = ParseCertificate(*text);
  if (!info.ok()) return info.error().WithContext(file.string());
  return info;
}

WallTime RenewalDue(const CertificateInfo& cert) {
  // Divided first: a lifetime up to WallTime's whole range would overflow when doubled.
  return cert.not_before + (cert.not_after - cert.not_before) / 3 * 2;
}

}  // namespace wb::channel
