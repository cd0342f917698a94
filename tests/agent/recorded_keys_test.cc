// agent/recorded_keys.h: the key material the audit trail last recorded, and the key_rotated
// records of a change it missed.
#include "agent/recorded_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "protocol/protocol.h"
#include "tests/support/process.h"

namespace wb::agent {
namespace {

class RecordedKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(paths_.cert(), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    Write(paths_.cloud_keys(), R"({"keys":[]})");
    auto key = protocol::EcPrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(key->Save(paths_.encryption_key()).ok());
  }
  static void Write(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path, std::ios::trunc) << content;
  }
  KeyFingerprints Current() {
    auto current = CurrentKeyFingerprints(paths_);
    EXPECT_TRUE(current.ok()) << current.error().ToString();
    return current.ok() ? *current : KeyFingerprints{};
  }

  wb::testing::TempDir dir_{"wbkeys"};
  channel::StatePaths paths_{dir_.path()};
};

TEST_F(RecordedKeysTest, TheFingerprintsFollowTheFilesAndNameNoPrivateKeyDigest) {
  const KeyFingerprints first = Current();
  EXPECT_EQ(first.certificate.size(), 64u);
  EXPECT_EQ(first.cloud_keys.size(), 64u);
  auto key = protocol::EcPrivateKey::Load(paths_.encryption_key());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(first.encryption_key, key->PublicJwk().kid);
  EXPECT_EQ(Current(), first);  // read again, unchanged
  Write(paths_.cloud_keys(), R"({"keys": []})");
  const KeyFingerprints second = Current();
  EXPECT_NE(second.cloud_keys, first.cloud_keys);
  EXPECT_EQ(second.certificate, first.certificate);
}

TEST_F(RecordedKeysTest, AMissingKeyFileIsAnError) {
  std::filesystem::remove(paths_.cert());
  EXPECT_FALSE(CurrentKeyFingerprints(paths_).ok());
}

TEST_F(RecordedKeysTest, SavedFingerprintsLoadAsTheyWereInAPrivateFile) {
  auto none = LoadRecordedKeys(dir_.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  const KeyFingerprints keys = Current();
  ASSERT_TRUE(SaveRecordedKeys(dir_.path(), keys).ok());
  auto loaded = LoadRecordedKeys(dir_.path());
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ(**loaded, keys);
  struct stat st {};
  ASSERT_EQ(::stat(RecordedKeysPath(dir_.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RecordedKeysTest, AnUnreadableRecordIsCorruption) {
  for (const char* content : {"", "not json", R"({"certificate_sha256": "ab"})", "[1,2]"}) {
    Write(RecordedKeysPath(dir_.path()), content);
    auto loaded = LoadRecordedKeys(dir_.path());
    ASSERT_FALSE(loaded.ok()) << content;
    EXPECT_EQ(loaded.error().code(), Code::kCorruption) << content;
  }
}

TEST_F(RecordedKeysTest, EachChangedFingerprintIsOneKeyRotatedRecordFoundAtStart) {
  const KeyFingerprints recorded{std::string(64, 'a'), "kid-one", std::string(64, 'c')};
  EXPECT_TRUE(UnrecordedKeyChanges(std::nullopt, recorded).empty()) << "the first start";
  EXPECT_TRUE(UnrecordedKeyChanges(recorded, recorded).empty());

  KeyFingerprints certificate = recorded;
  certificate.certificate = std::string(64, 'b');
  auto one = UnrecordedKeyChanges(recorded, certificate);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].type, audit::EventType::kKeyRotated);
  EXPECT_EQ(one[0].detail,
            "found at start: the agent's client certificate (agent.crt) changed (sha256 "
            "aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb) without a record when it happened: a renewal "
            "or rollover that the agent stopped before recording, or a new registration");

  const KeyFingerprints all{std::string(64, 'd'), "kid-two", std::string(64, 'e')};
  auto three = UnrecordedKeyChanges(recorded, all);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_NE(three[1].detail.find("encryption.key) changed (kid kid-one -> kid-two)"),
            std::string::npos)
      << three[1].detail;
  EXPECT_NE(three[2].detail.find("cloud-keys.json"), std::string::npos) << three[2].detail;
}

// After a record, only the material it names is noted: a renewal finished meanwhile, whose
// record is not written yet, stays a change for the next start to record.
TEST_F(RecordedKeysTest, ANoteCoversOnlyTheMaterialItsRecordNames) {
  const KeyFingerprints before = Current();
  ASSERT_TRUE(SaveRecordedKeys(dir_.path(), before).ok());
  // A rollover, recorded and noted below, and a renewal whose record is not written yet.
  Write(paths_.cloud_keys(), R"({"keys": [ ]})");
  Write(paths_.cert(), "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
  ASSERT_TRUE(NoteRecorded(paths_, KeyMaterial::kCloudKeys).ok());
  auto noted = LoadRecordedKeys(dir_.path());
  ASSERT_TRUE(noted.ok() && noted->has_value());
  EXPECT_EQ((*noted)->cloud_keys, Current().cloud_keys);
  EXPECT_EQ((*noted)->certificate, before.certificate);
  const auto pending = UnrecordedKeyChanges(*noted, Current());
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_NE(pending[0].detail.find("agent.crt"), std::string::npos);

  ASSERT_TRUE(NoteRecorded(paths_, KeyMaterial::kCertificate).ok());
  noted = LoadRecordedKeys(dir_.path());
  ASSERT_TRUE(noted.ok() && noted->has_value());
  EXPECT_EQ(**noted, Current());
}

TEST_F(RecordedKeysTest, WithNothingNotedBeforeANoteTakesEveryKeyInUse) {
  ASSERT_TRUE(NoteRecorded(paths_, KeyMaterial::kCertificate).ok());
  auto noted = LoadRecordedKeys(dir_.path());
  ASSERT_TRUE(noted.ok() && noted->has_value());
  EXPECT_EQ(**noted, Current());
}

TEST_F(RecordedKeysTest, TheBaselineRecordNamesEveryKeyInUseAndWhy) {
  const KeyFingerprints keys{std::string(64, 'a'), "kid-abcdefghijklmnopq", std::string(64, 'c')};
  const audit::Event e = BaselineEvent(keys, "recorded-keys.json does not parse");
  EXPECT_EQ(e.type, audit::EventType::kKeyRotated);
  EXPECT_EQ(e.detail,
            "found at start: the keys last recorded are unknown (recorded-keys.json does not "
            "parse); the keys in use are agent.crt sha256 aaaaaaaaaaaaaaaa, encryption.key kid "
            "kid-abcdefghijkl, cloud-keys.json sha256 cccccccccccccccc");
}

}  // namespace
}  // namespace wb::agent
