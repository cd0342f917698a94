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
// After a key_rotated record the daemon notes only the material that record names
// (NoteRecorded): a renewal that the channel finished meanwhile, whose own record has not been
// written yet, stays unnoted. A crash between a record and its note records the change a
// second time at the next start: an auditor may see a change twice, never not at all. A
// recorded-keys.json that cannot be read or parsed says nothing of what was recorded: the
// start then records the keys in use (BaselineEvent) and notes them.
//
// Errors: CurrentKeyFingerprints fails (kNotFound, kIoError) when a key file cannot be read;
// LoadRecordedKeys gives nullopt for a missing file, ErrnoStatus's code for one it cannot
// read and kCorruption for one that does not parse; SaveRecordedKeys and NoteRecorded fail as
// WriteFileAtomic does, NoteRecorded also as CurrentKeyFingerprints.

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

// The material a key_rotated record of the running agent names.
enum class KeyMaterial { kCertificate, kCloudKeys };

std::filesystem::path RecordedKeysPath(const std::filesystem::path& state_dir);

Result<KeyFingerprints> CurrentKeyFingerprints(const channel::StatePaths& paths);
Result<std::optional<KeyFingerprints>> LoadRecordedKeys(const std::filesystem::path& state_dir);
Status SaveRecordedKeys(const std::filesystem::path& state_dir, const KeyFingerprints& keys);

// Notes `which` as recorded: its fingerprint from the file now, the others as last noted (all
// from the files now when nothing was noted before).
Status NoteRecorded(const channel::StatePaths& paths, KeyMaterial which);

// The key_rotated event that records the keys in use when what was recorded before is unknown
// (`why`: the file could not be read).
audit::Event BaselineEvent(const KeyFingerprints& current, const std::string& why);

// One key_rotated event per fingerprint that differs, saying what changed from what to what and
// that the change was found at start. None when `recorded` is nullopt (the first start: the
// keys of the registration, nothing rotated) or equal.
std::vector<audit::Event> UnrecordedKeyChanges(const std::optional<KeyFingerprints>& recorded,
                                               const KeyFingerprints& current);

}  // namespace wb::agent
