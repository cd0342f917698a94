#include "agent/recorded_keys.h"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/hex.h"
#include "protocol/protocol.h"

namespace wb::agent {
namespace {

constexpr const char* kFileName = "recorded-keys.json";

// kNotFound when the file does not exist; otherwise as ErrnoStatus maps why it cannot be read.
Result<std::string> ReadWhole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno, "cannot read " + path.string());
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status(Code::kIoError, "cannot read " + path.string());
  return content;
}

Result<std::string> FileSha256(const std::filesystem::path& path) {
  auto content = ReadWhole(path);
  if (!content.ok()) return content.error();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(content->data(), content->size(), digest.data(), &size, EVP_sha256(), nullptr) !=
      1) {
    return Status(Code::kInternal, "OpenSSL could not hash " + path.string());
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

// The first 16 hex digits: enough to tell keys apart in a record an auditor reads.
std::string Short(const std::string& fingerprint) { return fingerprint.substr(0, 16); }

audit::Event FoundAtStart(const std::string& what, const std::string& was, const std::string& now,
                          const std::string& how) {
  audit::Event e;
  e.type = audit::EventType::kKeyRotated;
  e.detail = "found at start: " + what + " changed (" + how + " " + Short(was) + " -> " +
             Short(now) +
             ") without a record when it happened: a renewal or rollover that the agent stopped "
             "before recording, or a new registration";
  return e;
}

}  // namespace

std::filesystem::path RecordedKeysPath(const std::filesystem::path& state_dir) {
  return state_dir / kFileName;
}

Result<KeyFingerprints> CurrentKeyFingerprints(const channel::StatePaths& paths) {
  KeyFingerprints keys;
  auto certificate = FileSha256(paths.cert());
  if (!certificate.ok()) return certificate.error();
  keys.certificate = std::move(*certificate);
  auto cloud_keys = FileSha256(paths.cloud_keys());
  if (!cloud_keys.ok()) return cloud_keys.error();
  keys.cloud_keys = std::move(*cloud_keys);
  auto encryption_key = protocol::EcPrivateKey::Load(paths.encryption_key());
  if (!encryption_key.ok()) return encryption_key.error();
  keys.encryption_key = encryption_key->PublicJwk().kid;
  return keys;
}

Result<std::optional<KeyFingerprints>> LoadRecordedKeys(const std::filesystem::path& state_dir) {
  const std::filesystem::path path = RecordedKeysPath(state_dir);
  auto content = ReadWhole(path);
  if (!content.ok() && content.error().code() == Code::kNotFound) {
    return std::optional<KeyFingerprints>();
  }
  if (!content.ok()) return content.error();
  const nlohmann::json j = nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  const auto text = [&j](const char* key) -> const std::string* {
    if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return nullptr;
    return j[key].get_ptr<const std::string*>();
  };
  const std::string* certificate = text("certificate_sha256");
  const std::string* encryption_key = text("encryption_key_kid");
  const std::string* cloud_keys = text("cloud_keys_sha256");
  if (!certificate || !encryption_key || !cloud_keys) {
    return Status(Code::kCorruption,
                  path.string() + " does not hold the recorded key fingerprints");
  }
  return std::optional<KeyFingerprints>(
      KeyFingerprints{*certificate, *encryption_key, *cloud_keys});
}

Status SaveRecordedKeys(const std::filesystem::path& state_dir, const KeyFingerprints& keys) {
  const nlohmann::json j = {{"certificate_sha256", keys.certificate},
                            {"encryption_key_kid", keys.encryption_key},
                            {"cloud_keys_sha256", keys.cloud_keys}};
  return WriteFileAtomic(RecordedKeysPath(state_dir), j.dump(2) + "\n", 0600);
}

Status NoteRecorded(const channel::StatePaths& paths, KeyMaterial which) {
  auto current = CurrentKeyFingerprints(paths);
  if (!current.ok()) return current.error();
  auto recorded = LoadRecordedKeys(paths.dir);
  KeyFingerprints noted = recorded.ok() && recorded->has_value() ? **recorded : *current;
  switch (which) {
    case KeyMaterial::kCertificate:
      noted.certificate = current->certificate;
      break;
    case KeyMaterial::kCloudKeys:
      noted.cloud_keys = current->cloud_keys;
      break;
  }
  return SaveRecordedKeys(paths.dir, noted);
}

audit::Event BaselineEvent(const KeyFingerprints& current, const std::string& why) {
  audit::Event e;
  e.type = audit::EventType::kKeyRotated;
  e.detail = "found at start: the keys last recorded are unknown (" + why +
             "); the keys in use are agent.crt sha256 " + Short(current.certificate) +
             ", encryption.key kid " + Short(current.encryption_key) + ", cloud-keys.json sha256 " +
             Short(current.cloud_keys);
  return e;
}

std::vector<audit::Event> UnrecordedKeyChanges(const std::optional<KeyFingerprints>& recorded,
                                               const KeyFingerprints& current) {
  std::vector<audit::Event> events;
  if (!recorded) return events;
  if (recorded->certificate != current.certificate) {
    events.push_back(FoundAtStart("the agent's client certificate (agent.crt)",
                                  recorded->certificate, current.certificate, "sha256"));
  }
  if (recorded->encryption_key != current.encryption_key) {
    events.push_back(FoundAtStart("the key the cloud encrypts passwords to (encryption.key)",
                                  recorded->encryption_key, current.encryption_key, "kid"));
  }
  if (recorded->cloud_keys != current.cloud_keys) {
    events.push_back(FoundAtStart("the cloud's request-signing keys (cloud-keys.json)",
                                  recorded->cloud_keys, current.cloud_keys, "sha256"));
  }
  return events;
}

}  // namespace wb::agent
