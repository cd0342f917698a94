#pragma once
// wbcloud's state directory. Created (mode 0700) on the first `serve`:
//
//   tenant            the tenant id agents enroll into
//   ca.pem, ca.key    the CA (P-256) that issues the server and agent certificates;
//                     ca.pem is what agents put in cloud.ca_file
//   server.pem/.key   the TLS server certificate (localhost, 127.0.0.1, and --san names)
//   signing.key       the current request-signing key (ES256)
//   cloud-keys.json   the published signing keys (JWKS) agents pin
//   keyset.jws        after a rollover: the new key set, signed by the previous key
//   agents.json       enrolled agents: certificate fingerprints, encryption keys and the
//                     audit head each one last sent (the witness)
//   tokens.json       enrollment tokens (SHA-256 only), see tokens.h
//   requests/ID.json  every request and its result (no passwords: only the per-agent
//                     envelopes, whose passwords are encrypted to each agent's key)
//   agent-url         the wss:// URL for the agents' cloud.url
//   admin.sock        the local admin endpoint of a running `serve` (mode 0600)
//
// Not thread-safe: one CloudState is used by one thread (the server's I/O thread).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "protocol/protocol.h"
#include "tools/wbcloud/ca.h"

namespace wb::cloud {

struct StatePaths {
  explicit StatePaths(std::filesystem::path d) : dir(std::move(d)) {}
  std::filesystem::path tenant() const { return dir / "tenant"; }
  std::filesystem::path ca_cert() const { return dir / "ca.pem"; }
  std::filesystem::path ca_key() const { return dir / "ca.key"; }
  std::filesystem::path server_cert() const { return dir / "server.pem"; }
  std::filesystem::path server_key() const { return dir / "server.key"; }
  std::filesystem::path signing_key() const { return dir / "signing.key"; }
  std::filesystem::path cloud_keys() const { return dir / "cloud-keys.json"; }
  std::filesystem::path keyset() const { return dir / "keyset.jws"; }
  std::filesystem::path agents() const { return dir / "agents.json"; }
  std::filesystem::path tokens() const { return dir / "tokens.json"; }
  std::filesystem::path requests() const { return dir / "requests"; }
  std::filesystem::path agent_url() const { return dir / "agent-url"; }
  std::filesystem::path admin_socket() const { return dir / "admin.sock"; }
  std::filesystem::path lock() const { return dir / "serve.lock"; }
  std::filesystem::path dir;
};

struct AgentRecord {
  std::string id;
  std::vector<std::string> fingerprints;  // the newest certificate first; at most two
  protocol::Jwk encryption_key;
  WallTime enrolled_at{};
  WallTime certificate_expires{};
  // The witness (docs/audit.md, "The witness"): the highest audit head the agent sent since it
  // enrolled, and when. Enrolling again starts afresh; nothing else lowers it.
  std::optional<protocol::AuditHead> audit_head;
  std::optional<WallTime> audit_head_at;
};

// What the witness did with a head an agent sent.
enum class Witnessed {
  kAdvanced,  // a higher seq: kept
  kSame,      // the head it already holds
  kBehind,    // a lower seq: not kept (the agent's trail went back; the agent will refuse)
  kConflict,  // the seq it holds with another hash: not kept
};

enum class RequestState { kPending, kDelivered, kAccepted, kDone };
std::string_view RequestStateName(RequestState s);

struct RequestRecord {
  std::string id;
  WallTime created{};
  WallTime expires{};
  std::string summary;  // e.g. "reset,unlock userPrincipalName=alice@example.com"
  std::map<std::string, std::string> envelopes;  // agent id -> compact JWS
  RequestState state = RequestState::kPending;
  std::string agent;  // delivered to / accepted by
  int deliveries = 0;
  int refusals = 0;  // deliveries answered queue_full / unavailable: nothing was kept
  std::optional<WallTime> retry_after;  // after queue_full / unavailable
  // The agent that accepted the request before it was handed over; it may still report.
  std::string handed_over_from;
  // The final outcome (kDone).
  std::string outcome;  // the agent's code, "rejected" or "expired"
  std::string reject_code;
  std::string reason;
  std::string note;
  std::string user_action;  // the page the end user would be shown; empty until done
  std::optional<WallTime> completed_at;
  bool acked = false;
  // Not stored.
  std::chrono::steady_clock::time_point lease_until{};
};

class CloudState {
 public:
  // Opens `dir`, creating it and whatever is missing in it. `server_names` are extra
  // subjectAltNames ("DNS:x" / "IP:y") for a new server certificate.
  static Result<CloudState> Open(const std::filesystem::path& dir,
                                 const std::vector<std::string>& server_names, const Clock& clock);

  const StatePaths& paths() const { return paths_; }
  const std::string& tenant() const { return tenant_; }
  const CertificateAuthority& ca() const { return *ca_; }
  const protocol::EcPrivateKey& signing_key() const { return *signing_key_; }
  const std::string& signing_kid() const { return signing_kid_; }
  const protocol::Jwks& cloud_keys() const { return cloud_keys_; }
  const std::string& keyset_jws() const { return keyset_jws_; }

  // Signing-key rollover: a new key signs from now on; the published set holds the new and
  // the previous key and is signed by the previous key (keyset.jws), for connected agents.
  Status RotateSigningKey(WallTime now);

  const std::map<std::string, AgentRecord>& agents() const { return agents_; }
  const AgentRecord* FindAgentByFingerprint(std::string_view fingerprint) const;
  Status SaveAgent(AgentRecord agent);
  // Keeps `head` as the agent's witnessed audit head when its seq is higher than the one held
  // (saved to agents.json before it returns). kNotFound for an agent that is not enrolled.
  Result<Witnessed> WitnessAuditHead(const std::string& agent_id, const protocol::AuditHead& head,
                                     WallTime now);

  Status SaveRequest(const RequestRecord& r) const;
  Result<std::vector<RequestRecord>> LoadRequests() const;

 private:
  explicit CloudState(std::filesystem::path dir) : paths_(std::move(dir)) {}
  Status LoadAgents();
  StatePaths paths_;
  std::string tenant_;
  std::optional<CertificateAuthority> ca_;
  std::optional<protocol::EcPrivateKey> signing_key_;
  std::string signing_kid_;
  protocol::Jwks cloud_keys_;
  std::string keyset_jws_;
  std::map<std::string, AgentRecord> agents_;
};

// Reads a small text file; kNotFound when it does not exist.
Result<std::string> ReadTextFile(const std::filesystem::path& path);

}  // namespace wb::cloud
