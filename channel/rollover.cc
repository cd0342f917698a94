// Certificate renewal and signing-key rollover: what the channel stores when the cloud
// renews the agent's certificate or rolls its signing keys.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <tuple>
#include <vector>

#include "channel/identity.h"
#include "common/log_escape.h"

namespace wb::channel {
namespace {

std::filesystem::path NewCertPath(const StatePaths& paths) {
  return paths.cert().string() + ".new";
}

Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, "cannot rename " + from.string() + " to " + to.string());
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> BeginRenewal(const StatePaths& paths, std::string_view agent_id) {
  auto key = protocol::EcPrivateKey::Generate();
  if (!key.ok()) return key.error();
  WB_RETURN_IF_ERROR(key->Save(paths.renewal_key()));
  return MakeCsr(*key, agent_id);
}

Result<CertificateInfo> FinishRenewal(const StatePaths& paths, std::string_view agent_id,
                                      std::string_view certificate_pem, WallTime now) {
  if (!std::filesystem::exists(paths.renewal_key())) {
    return FailedPrecondition("no renewal is pending (" + paths.renewal_key().string() +
                              " does not exist)");
  }
  auto key = protocol::EcPrivateKey::Load(paths.renewal_key());
  if (!key.ok()) return key.error();
  auto cert = ParseCertificate(certificate_pem);
  if (!cert.ok()) return cert.error().WithContext("the renewed certificate");
  if (!cert->matches(*key)) {
    return InvalidArgument("the renewed certificate is not for the key this agent sent");
  }
  if (cert->common_name != agent_id) {
    return InvalidArgument("the renewed certificate names \"" + EscapeForLog(cert->common_name) +
                           "\", not this agent");
  }
  if (now < cert->not_before - std::chrono::minutes(5) || now >= cert->not_after) {
    return InvalidArgument("the renewed certificate is not valid now");
  }
  auto current = ReadCertificate(paths.cert());
  if (!current.ok()) return current.error().WithContext("the certificate being renewed");
  if (!cert->same_issuer(*current)) {
    return InvalidArgument("the renewed certificate is issued by \"" + cert->issuer +
                           "\", not by \"" + current->issuer +
                           "\", the issuer of this agent's certificate");
  }
  WB_RETURN_IF_ERROR(WriteFileAtomic(NewCertPath(paths), certificate_pem, 0644));
  WB_RETURN_IF_ERROR(Rename(paths.renewal_key(), paths.key()));
  WB_RETURN_IF_ERROR(Rename(NewCertPath(paths), paths.cert()));
  return cert;
}

void RecoverRenewal(const StatePaths& paths) {
  const auto pending = NewCertPath(paths);
  if (!std::filesystem::exists(pending)) return;
  auto cert = ReadCertificate(pending);
  auto key = protocol::EcPrivateKey::Load(paths.key());
  if (cert.ok() && key.ok() && cert->matches(*key)) {
    (void)Rename(pending, paths.cert());
  } else {
    ::unlink(pending.c_str());
  }
}

namespace {

// The same keys, in any order: each key's kid and point.
bool SameKeys(const protocol::Jwks& a, const protocol::Jwks& b) {
  auto points = [](const protocol::Jwks& jwks) {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& k : jwks.keys) out.emplace_back(k.kid, k.x, k.y);
    std::sort(out.begin(), out.end());
    return out;
  };
  return points(a) == points(b);
}

}  // namespace

Result<std::optional<protocol::Jwks>> ApplyKeySet(const StatePaths& paths, Enrollment& enrollment,
                                                  std::string_view jws, const Clock& clock,
                                                  std::chrono::seconds max_skew) {
  if (jws == enrollment.keyset_jws) return std::optional<protocol::Jwks>();
  auto trusted = LoadCloudKeys(paths);
  if (!trusted.ok()) return trusted.error();
  auto verified = protocol::VerifyKeySet(jws, *trusted, enrollment.tenant, clock, max_skew,
                                         enrollment.keys_issued_at);
  if (!verified.ok()) return verified.error();
  // No set since enrollment, so no iat to be newer than: the keys enrollment gave stand for a
  // set issued then. One issued before that (beyond the skew) is an old set replayed, and
  // would bring back keys a later rollover retired, unless it is the very set enrollment
  // gave (the cloud sends its current set after welcome): that one changes no trust and
  // pins its iat.
  if (!enrollment.keys_issued_at && verified->issued_at + max_skew < enrollment.enrolled_at &&
      !SameKeys(verified->keys, *trusted)) {
    return InvalidArgument(
        "the key set was issued before this agent was enrolled and holds other keys than "
        "enrollment gave: an old set sent again; refused");
  }
  WB_RETURN_IF_ERROR(SaveCloudKeys(paths, verified->keys));
  Enrollment updated = enrollment;
  updated.keys_issued_at = verified->issued_at;
  updated.keyset_jws = std::string(jws);
  WB_RETURN_IF_ERROR(SaveEnrollment(paths, updated));
  enrollment = std::move(updated);
  return std::optional<protocol::Jwks>(std::move(verified->keys));
}

}  // namespace wb::channel
