#pragma once
// The agent's identity in its state directory, written by `wbagent register` and by
// certificate renewal and key-set rollover over the channel:
//
//   agent.key        the TLS client key (P-256, PKCS#8 PEM, mode 0600)
//   agent.crt        the client certificate the cloud issued (PEM chain, leaf first)
//   encryption.key   the key the cloud encrypts passwords to (P-256, mode 0600)
//   cloud-keys.json  the cloud's request-signing keys (a JWKS), pinned at enrollment
//   enrollment.json  {agent_id, tenant, agent_url, enrolled_at, keys_issued_at?, keyset_jws?}
//
// Every write goes to a temporary file in the same directory, is fsync'ed and renamed over
// the old file, so a crash leaves the old version or the new one. No I/O happens at static
// initialisation; functions are thread-safe for distinct files.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "protocol/protocol.h"

namespace wb::channel {

struct StatePaths {
  explicit StatePaths(std::filesystem::path state_dir) : dir(std::move(state_dir)) {}
  std::filesystem::path cert() const { return dir / "agent.crt"; }
  std::filesystem::path key() const { return dir / "agent.key"; }
  std::filesystem::path encryption_key() const { return dir / "encryption.key"; }
  std::filesystem::path cloud_keys() const { return dir / "cloud-keys.json"; }
  std::filesystem::path enrollment() const { return dir / "enrollment.json"; }
  // Renewal in progress: the new key waits here until its certificate arrives.
  std::filesystem::path renewal_key() const { return dir / "agent.key.renew"; }
  std::filesystem::path dir;
};

struct Enrollment {
  std::string agent_id;
  std::string tenant;
  std::string agent_url;
  WallTime enrolled_at{};
  std::optional<WallTime> keys_issued_at;  // iat of the signed key set in use, after a rollover
  std::string keyset_jws;                  // that signed key set, verbatim
};

// Reads enrollment.json. kNotFound (with "run wbagent register") when it does not exist.
Result<Enrollment> LoadEnrollment(const StatePaths& paths);
Status SaveEnrollment(const StatePaths& paths, const Enrollment& enrollment);

Result<protocol::Jwks> LoadCloudKeys(const StatePaths& paths);
Status SaveCloudKeys(const StatePaths& paths, const protocol::Jwks& keys);

// Creates `dir` (and nothing above it) with mode 0700 if it does not exist.
Status EnsurePrivateDirectory(const std::filesystem::path& dir);

// A PEM certificate signing request for `key`, subject CN=`common_name`, SHA-256.
Result<std::string> MakeCsr(const protocol::EcPrivateKey& key, std::string_view common_name);

struct CertificateInfo {
  std::string subject;  // one line, RFC 2253
  std::string issuer;   // one line, RFC 2253 (for messages; compare with same_issuer)
  std::string common_name;
  WallTime not_before{};
  WallTime not_after{};
  bool matches(const protocol::EcPrivateKey& key) const;
  // Whether `other` names the same issuer, compared as names (X509_NAME_cmp: attribute by
  // attribute, after OpenSSL's canonical folding of case and spaces), not as text.
  bool same_issuer(const CertificateInfo& other) const;
  std::string public_key_der;  // SubjectPublicKeyInfo, DER
  std::string issuer_der;      // the issuer's Name, DER
};

// The first certificate of a PEM text (the leaf of a chain).
Result<CertificateInfo> ParseCertificate(std::string_view pem);
Result<CertificateInfo> ReadCertificate(const std::filesystem::path& file);

// When a certificate should be renewed: two thirds into its lifetime.
WallTime RenewalDue(const CertificateInfo& cert);

}  // namespace wb::channel

namespace wb::channel {

// ---- Certificate renewal and key-set rollover (rollover.cc) ----

// Starts a renewal: a fresh key is stored in renewal_key() (0600) and its CSR returned.
Result<std::string> BeginRenewal(const StatePaths& paths, std::string_view agent_id);

// Completes a renewal with the certificate the cloud sent: it must be for the key in
// renewal_key(), name `agent_id`, be valid at `now` and come from the issuer of the current
// certificate (cert()): one from another CA would not be accepted by the cloud's TLS, and the
// agent, having replaced its key, could not connect again until registered anew. The key and
// certificate replace agent.key and agent.crt (certificate written first as agent.crt.new, so that
// a crash in between is completed by RecoverRenewal).
Result<CertificateInfo> FinishRenewal(const StatePaths& paths, std::string_view agent_id,
                                      std::string_view certificate_pem, WallTime now);

// Completes a renewal interrupted between its two renames; harmless otherwise.
void RecoverRenewal(const StatePaths& paths);

// Verifies a signed key set against the pinned keys (protocol::VerifyKeySet) and, when it is
// new, stores it (cloud-keys.json, then enrollment.json). Returns the new keys, or nullopt
// when `jws` is the set already in use.
Result<std::optional<protocol::Jwks>> ApplyKeySet(const StatePaths& paths, Enrollment& enrollment,
                                                  std::string_view jws, const Clock& clock,
                                                  std::chrono::seconds max_skew);

}  // namespace wb::channel
