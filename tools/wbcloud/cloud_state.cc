#include "tools/wbcloud/cloud_state.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "common/hex.h"
#include "common/log_escape.h"
#include "tools/wbcloud/files.h"

namespace wb::cloud {
namespace {

using Json = nlohmann::json;

std::int64_t ToUnix(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
WallTime FromUnix(std::int64_t s) { return WallTime(std::chrono::seconds(s)); }

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return HexEncode(raw);
}

Result<protocol::EcPrivateKey> LoadOrCreateKey(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return protocol::EcPrivateKey::Load(path);
  auto key = protocol::EcPrivateKey::Generate();
  if (!key.ok()) return key.error();
  WB_RETURN_IF_ERROR(key->Save(path));
  return key;
}

Json RequestToJson(const RequestRecord& r) {
  Json j = {{"id", r.id},
            {"created", ToUnix(r.created)},
            {"expires", ToUnix(r.expires)},
            {"summary", r.summary},
            {"envelopes", r.envelopes},
            {"state", RequestStateName(r.state)},
            {"agent", r.agent},
            {"deliveries", r.deliveries},
            {"acked", r.acked},
            {"refusals", r.refusals}};
  if (!r.handed_over_from.empty()) j["handed_over_from"] = r.handed_over_from;
  if (r.retry_after) j["retry_after"] = ToUnix(*r.retry_after);
  if (r.state == RequestState::kDone) {
    j["outcome"] = r.outcome;
    j["reject_code"] = r.reject_code;
    j["reason"] = r.reason;
    j["note"] = r.note;
    j["user_action"] = r.user_action;
    if (r.completed_at) j["completed_at"] = ToUnix(*r.completed_at);
  }
  return j;
}

Result<RequestRecord> RequestFromJson(const Json& j) {
  try {
    RequestRecord r;
    r.id = j.at("id").get<std::string>();
    r.created = FromUnix(j.at("created").get<std::int64_t>());
    r.expires = FromUnix(j.at("expires").get<std::int64_t>());
    r.summary = j.at("summary").get<std::string>();
    r.envelopes = j.at("envelopes").get<std::map<std::string, std::string>>();
    const std::string state = j.at("state").get<std::string>();
    r.state = state == "done"       ? RequestState::kDone
              : state == "accepted" ? RequestState::kAccepted
                                    : RequestState::kPending;  // a lost delivery is redone
    r.agent = r.state == RequestState::kPending ? "" : j.value("agent", "");
    r.deliveries = j.value("deliveries", 0);
    r.refusals = j.value("refusals", 0);
    r.handed_over_from = j.value("handed_over_from", "");
    r.acked = j.value("acked", false);
    if (j.contains("retry_after")) r.retry_after = FromUnix(j["retry_after"].get<std::int64_t>());
    if (r.state == RequestState::kDone) {
      r.outcome = j.value("outcome", "");
      r.reject_code = j.value("reject_code", "");
      r.reason = j.value("reason", "");
      r.note = j.value("note", "");
      r.user_action = j.value("user_action", "");
      if (j.contains("completed_at")) {
        r.completed_at = FromUnix(j["completed_at"].get<std::int64_t>());
      }
    }
    return r;
  } catch (const Json::exception& e) {
    return Status(Code::kCorruption, std::string("invalid request record: ") + e.what());
  }
}

}  // namespace

std::string_view RequestStateName(RequestState s) {
  switch (s) {
    case RequestState::kPending:
      return "pending";
    case RequestState::kDelivered:
      return "delivered";
    case RequestState::kAccepted:
      return "accepted";
    case RequestState::kDone:
      return "done";
  }
  return "pending";
}

Result<std::string> ReadTextFile(const std::filesystem::path& path) { return ReadFile(path); }

Result<CloudState> CloudState::Open(const std::filesystem::path& dir,
                                    const std::vector<std::string>& server_names,
                                    const Clock& clock) {
  WB_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  CloudState s(dir);
  const StatePaths& p = s.paths_;
  WB_RETURN_IF_ERROR(EnsurePrivateDirectory(p.requests()));
  const WallTime now = clock.Now();

  if (!std::filesystem::exists(p.tenant())) {
    WB_RETURN_IF_ERROR(WriteFileAtomic(p.tenant(), "tenant-" + RandomHex(8) + "\n", 0644));
  }
  auto tenant = ReadFile(p.tenant());
  if (!tenant.ok()) return tenant.error();
  s.tenant_ = tenant->substr(0, tenant->find('\n'));

  auto ca_key = LoadOrCreateKey(p.ca_key());
  if (!ca_key.ok()) return ca_key.error();
  if (!std::filesystem::exists(p.ca_cert())) {
    auto pem = MakeCaCertificate(*ca_key, "wbcloud CA " + s.tenant_, now);
    if (!pem.ok()) return pem.error();
    WB_RETURN_IF_ERROR(WriteFileAtomic(p.ca_cert(), *pem, 0644));
  }
  auto ca_pem = ReadFile(p.ca_cert());
  if (!ca_pem.ok()) return ca_pem.error();
  auto ca = CertificateAuthority::Load(*ca_pem, std::move(*ca_key));
  if (!ca.ok()) return ca.error();
  s.ca_.emplace(std::move(*ca));

  auto server_key = LoadOrCreateKey(p.server_key());
  if (!server_key.ok()) return server_key.error();
  if (!std::filesystem::exists(p.server_cert())) {
    std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1"};
    names.insert(names.end(), server_names.begin(), server_names.end());
    auto cert = s.ca_->IssueServer(*server_key, names, now, std::chrono::hours(24 * 825));
    if (!cert.ok()) return cert.error();
    WB_RETURN_IF_ERROR(WriteFileAtomic(p.server_cert(), cert->pem + *ca_pem, 0644));
  }

  auto signing = LoadOrCreateKey(p.signing_key());
  if (!signing.ok()) return signing.error();
  s.signing_kid_ = signing->PublicJwk().kid;
  s.signing_key_.emplace(std::move(*signing));
  if (!std::filesystem::exists(p.cloud_keys())) {
    protocol::Jwks keys{{s.signing_key_->PublicJwk("sig", "ES256")}};
    WB_RETURN_IF_ERROR(WriteFileAtomic(p.cloud_keys(), protocol::SerializeJwks(keys) + "\n", 0644));
  }
  auto keys_text = ReadFile(p.cloud_keys());
  if (!keys_text.ok()) return keys_text.error();
  auto keys = protocol::ParseJwks(*keys_text);
  if (!keys.ok()) return keys.error().WithContext(p.cloud_keys().string());
  s.cloud_keys_ = std::move(*keys);
  if (std::filesystem::exists(p.keyset())) {
    auto jws = ReadFile(p.keyset());
    if (!jws.ok()) return jws.error();
    s.keyset_jws_ = jws->substr(0, jws->find('\n'));
  }
  WB_RETURN_IF_ERROR(s.LoadAgents());
  return s;
}

Status CloudState::RotateSigningKey(WallTime now) {
  auto fresh = protocol::EcPrivateKey::Generate();
  if (!fresh.ok()) return fresh.error();
  protocol::Jwks published{
      {fresh->PublicJwk("sig", "ES256"), signing_key_->PublicJwk("sig", "ES256")}};
  auto jws = protocol::SignKeySet(published, tenant_, now, *signing_key_, signing_kid_);
  if (!jws.ok()) return jws.error();
  // The old key is kept as signing.key.previous only for the record; the new one signs.
  WB_RETURN_IF_ERROR(signing_key_->Save(paths_.signing_key().string() + ".previous"));
  WB_RETURN_IF_ERROR(fresh->Save(paths_.signing_key()));
  WB_RETURN_IF_ERROR(
      WriteFileAtomic(paths_.cloud_keys(), protocol::SerializeJwks(published) + "\n", 0644));
  WB_RETURN_IF_ERROR(WriteFileAtomic(paths_.keyset(), *jws + "\n", 0644));
  signing_kid_ = fresh->PublicJwk().kid;
  signing_key_.emplace(std::move(*fresh));
  cloud_keys_ = std::move(published);
  keyset_jws_ = std::move(*jws);
  return Status::Ok();
}

Status CloudState::LoadAgents() {
  if (!std::filesystem::exists(paths_.agents())) return Status::Ok();
  auto text = ReadFile(paths_.agents());
  if (!text.ok()) return text.error();
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object()) return Status(Code::kCorruption, paths_.agents().string() + " is invalid");
  for (const auto& [id, a] : j.items()) {
    AgentRecord r;
    r.id = id;
    try {
      r.fingerprints = a.at("fingerprints").get<std::vector<std::string>>();
      auto jwk = protocol::ParseJwk(a.at("encryption_key").dump());
      if (!jwk.ok()) return jwk.error().WithContext(paths_.agents().string());
      r.encryption_key = *jwk;
      r.enrolled_at = FromUnix(a.at("enrolled_at").get<std::int64_t>());
      r.certificate_expires = FromUnix(a.at("certificate_expires").get<std::int64_t>());
      if (a.contains("audit_head")) {
        const Json& h = a.at("audit_head");
        r.audit_head = protocol::AuditHead{.seq = h.at("seq").get<std::uint64_t>(),
                                           .hash = h.at("hash").get<std::string>(),
                                           .hmac = h.at("hmac").get<std::string>()};
        r.audit_head_at = FromUnix(h.at("at").get<std::int64_t>());
      }
    } catch (const Json::exception& e) {
      return Status(Code::kCorruption, paths_.agents().string() + ": " + e.what());
    }
    agents_[id] = std::move(r);
  }
  return Status::Ok();
}

const AgentRecord* CloudState::FindAgentByFingerprint(std::string_view fingerprint) const {
  for (const auto& [id, a] : agents_) {
    for (const auto& f : a.fingerprints) {
      if (f == fingerprint) return &a;
    }
  }
  return nullptr;
}

Status CloudState::SaveAgent(AgentRecord agent) {
  if (agent.fingerprints.size() > 2) agent.fingerprints.resize(2);
  agents_[agent.id] = std::move(agent);
  Json j = Json::object();
  for (const auto& [id, a] : agents_) {
    j[id] = {{"fingerprints", a.fingerprints},
             {"encryption_key", Json::parse(protocol::SerializeJwk(a.encryption_key))},
             {"enrolled_at", ToUnix(a.enrolled_at)},
             {"certificate_expires", ToUnix(a.certificate_expires)}};
    if (a.audit_head) {
      j[id]["audit_head"] = {{"seq", a.audit_head->seq},
                             {"hash", a.audit_head->hash},
                             {"hmac", a.audit_head->hmac},
                             {"at", ToUnix(a.audit_head_at.value_or(WallTime{}))}};
    }
  }
  return WriteFileAtomic(paths_.agents(), j.dump(2) + "\n", 0600);
}

Result<Witnessed> CloudState::WitnessAuditHead(const std::string& agent_id,
                                               const protocol::AuditHead& head, WallTime now) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return Status(Code::kNotFound, "agent " + agent_id + " is not enrolled");
  const std::optional<protocol::AuditHead>& held = it->second.audit_head;
  if (held && head.seq < held->seq) return Witnessed::kBehind;
  if (held && head.seq == held->seq) {
    return head.hash == held->hash ? Witnessed::kSame : Witnessed::kConflict;
  }
  AgentRecord updated = it->second;
  updated.audit_head = head;
  updated.audit_head_at = now;
  WB_RETURN_IF_ERROR(SaveAgent(std::move(updated)));
  return Witnessed::kAdvanced;
}

Status CloudState::SaveRequest(const RequestRecord& r) const {
  return WriteFileAtomic(paths_.requests() / (r.id + ".json"), RequestToJson(r).dump() + "\n",
                         0600);
}

Result<std::vector<RequestRecord>> CloudState::LoadRequests() const {
  std::vector<RequestRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(paths_.requests(), ec)) {
    if (entry.path().extension() != ".json") continue;
    auto text = ReadFile(entry.path());
    if (!text.ok()) return text.error();
    Json j = Json::parse(*text, nullptr, false);
    auto r = RequestFromJson(j);
    if (!r.ok()) return r.error().WithContext(entry.path().string());
    out.push_back(std::move(*r));
  }
  if (ec) return ErrnoStatus(ec.value(), "cannot list " + paths_.requests().string());
  std::sort(out.begin(), out.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.created < b.created; });
  return out;
}

}  // namespace wb::cloud
