#pragma once
// What the audit trail last recorded of the agent's key material (internal to agent/), so
// that a change it did not record when it happened is recorded at the next start.
//
// The channel replaces agent.crt (a renewal) or cloud-keys.json (a key-set rollover) first and
// records key_rotated after; a crash in between, or a `wbagent register` run while the agent
// was stopped, changes the keys without a record. So the daemon keeps
// <state_dir>/recorded-keys.json, the fingerprints of the key material as of its last
// key_rotated record (or its first start), written atomically (0600) after each such record is
// durable. At start it compares them with the files:
//
//   start ──Current──▶ fingerprints ──Unrecorded(recorded, current)──▶ key_rotated records
//         (durable) ──▶ SaveRecordedKeys(current)
//
// A crash between a record and the file's update records the change a second time at the next
// start: an auditor may see a change twice, never not at all.
//
// Errors: Current fails (kNotFound, kIoError) when a file cannot be read; LoadRecordedKeys
// gives nullopt for a missing file and kCorruption for one that does not parse; SaveRecordedKeys
// fails as WriteFileAtomic does.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "channel/identity.h"
#include "common/status.h"

namespace wb::agent {

// SHA-256 (hex) of each file as stored; the encryption key by its public JWK thumbprint (the
// kid the cloud encrypts to), so that no digest of a private key is written anywhere.
struct KeyFingerprints {
  std::string certificate;     // agent.crt
  std::string encryption_key;  // encryption.key's kid
  std::string cloud_keys;      // cloud-keys.json
  bool operator==(const KeyFingerprints&) const = default;
};

std::filesystem::path RecordedKeysPath(const std::filesystem::path& state_dir);

Result<KeyFingerprints> CurrentKeyFingerprints(const channel::StatePaths& paths);
Result<std::optional<KeyFingerprints>> LoadRecordedKeys(const std::filesystem::path& state_dir);
Status SaveRecordedKeys(const std::filesystem::path& state_dir, const KeyFingerprints& keys);

// One key_rotated event per fingerprint that differs, saying what changed from what to what and
// that the change was found at start. None when `recorded` is nullopt (the first start: the
// keys of the registration, nothing rotated) or equal.
std::vector<audit::Event> UnrecordedKeyChanges(const std::optional<KeyFingerprints>& recorded,
                                               const KeyFingerprints& current);

}  // namespace wb::agent
