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

}  // namespace
}  // namespace wb::agent
