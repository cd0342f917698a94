#include "channel/enrollment.h"

#include <nlohmann/json.hpp>

#include "channel/internal/https.h"
#include "common/log_escape.h"

namespace wb::channel {
namespace {

// The cloud's refusal, from its JSON error body {"error": code, "message": text}.
Status Refusal(const internal::HttpResponse& res) {
  std::string detail;
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    detail = EscapeForLog(j["message"].get<std::string>(), 300);
  } else {
    detail = EscapeForLog(res.body, 200);
  }
  const std::string head = "the cloud refused enrollment (HTTP " + std::to_string(res.status) +
                           " " + res.reason + ")" + (detail.empty() ? "" : ": " + detail);
  if (res.status == 401 || res.status == 403) {
    return PermissionDenied(head + "; create a new token (tokens are single-use and expire)");
  }
  if (res.status == 404) return FailedPrecondition(head + "; is cloud.url the right cloud?");
  if (res.status >= 400 && res.status < 500) return InvalidArgument(head);
  return Unavailable(head);
}

struct NewKeys {
  protocol::EcPrivateKey tls;
  protocol::EcPrivateKey encryption;
};

Result<NewKeys> MakeKeys() {
  auto tls = protocol::EcPrivateKey::Generate();
  if (!tls.ok()) return tls.error();
  auto enc = protocol::EcPrivateKey::Generate();
  if (!enc.ok()) return enc.error();
  return NewKeys{std::move(*tls), std::move(*enc)};
}

Status Store(const StatePaths& paths, const NewKeys& keys, const protocol::EnrollResponse& res,
             const Enrollment& enrollment) {
  WB_RETURN_IF_ERROR(keys.tls.Save(paths.key()));
  WB_RETURN_IF_ERROR(keys.encryption.Save(paths.encryption_key()));
  WB_RETURN_IF_ERROR(WriteFileAtomic(paths.cert(), res.certificate, 0644));
  WB_RETURN_IF_ERROR(SaveCloudKeys(paths, res.cloud_keys));
  return SaveEnrollment(paths, enrollment);
}

}  // namespace

Result<RegisterResult> Register(const Options& options, const Secret& token, bool force,
                                const Clock& clock) {
  const StatePaths paths(options.state_dir);
  if (!force && std::filesystem::exists(paths.enrollment())) {
    return Status(Code::kAlreadyExists,
                  "this agent is already enrolled (" + paths.enrollment().string() +
                      " exists); pass --force to enroll it again with new keys");
  }
  WB_RETURN_IF_ERROR(EnsurePrivateDirectory(paths.dir));
  auto keys = MakeKeys();
  if (!keys.ok()) return keys.error();
  auto csr = MakeCsr(keys->tls, options.agent_id);
  if (!csr.ok()) return csr.error();

  protocol::EnrollRequest request{.token = std::string(token.view()),
                                  .agent_id = options.agent_id,
                                  .csr = *csr,
                                  .encryption_jwk = keys->encryption.PublicJwk("enc", "ECDH-ES")};
  std::string body = protocol::Serialize(request);
  WipeBytes(request.token.data(), request.token.size());
  internal::ConnectTarget connect{.server = options.server,
                                  .proxy = options.proxy,
                                  .timeout = options.connect_timeout,
                                  .user_agent = "wbagent/" + options.agent_version};
  internal::TlsSettings tls{
      .server = options.server,
      .ca_file = options.ca_file,
      .min_tls = options.min_tls,
      .spki_pin = options.spki_pin,
      .proxy = options.proxy ? internal::HostPortText(options.proxy->address) : ""};
  auto response = internal::HttpsPost(connect, tls, "/enroll", body);
  WipeBytes(body.data(), body.size());
  if (!response.ok()) return response.error().WithContext("enrollment");
  if (response->status != 200) return Refusal(*response);
  auto parsed = protocol::ParseEnrollResponse(response->body);
  if (!parsed.ok()) {
    return parsed.error().WithContext("the cloud's enrollment answer is invalid");
  }
  auto cert = ParseCertificate(parsed->certificate);
  if (!cert.ok()) return cert.error().WithContext("the issued certificate");
  if (!cert->matches(keys->tls)) {
    return InvalidArgument("the cloud issued a certificate for another key; not stored");
  }
  RegisterResult result;
  result.enrollment = {.agent_id = options.agent_id,
                       .tenant = parsed->tenant,
                       .agent_url = parsed->agent_url,
                       .enrolled_at = clock.Now()};
  result.certificate = *cert;
  result.cloud_keys = parsed->cloud_keys.keys.size();
  WB_RETURN_IF_ERROR(Store(paths, *keys, *parsed, result.enrollment));
  return result;
}

}  // namespace wb::channel
