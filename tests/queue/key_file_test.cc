// Where the data key comes from, and the key files that are refused.

#include "queue/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

constexpr char kHexKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// Writes `content` with exactly `mode`, whatever the umask.
bool WriteWithMode(const std::filesystem::path& p, const std::string& content, mode_t mode) {
  return wb::testing::WriteFile(p, content, 0600).ok() && ::chmod(p.c_str(), mode) == 0;
}

mode_t ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class KeyFileTest : public QueueTest {
 protected:
  void SetUp() override { std::filesystem::create_directory(state_dir()); }
  KeyLocation Where() { return KeyLocation{.state_dir = state_dir()}; }
  std::filesystem::path KeyPath() { return state_dir() / "queue.key"; }
};

TEST_F(KeyFileTest, FirstStartCreatesAnOwnerOnlyKeyFile) {
  auto k = LoadOrCreateKey(Where());
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  EXPECT_TRUE(k->created);
  EXPECT_EQ(k->path, KeyPath());
  EXPECT_EQ(ModeOf(KeyPath()), 0600u);
  EXPECT_EQ(std::filesystem::file_size(KeyPath()), 65u);  // 64 hex digits and a newline
  EXPECT_FALSE(std::filesystem::exists(KeyPath().string() + ".new"));
}

TEST_F(KeyFileTest, LaterStartsReadTheSameKey) {
  auto first = LoadOrCreateKey(Where());
  auto second = LoadOrCreateKey(Where());
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->key.Id(), first->key.Id());
}

TEST_F(KeyFileTest, KeyFileReadableByOthersIsRefused) {
  ASSERT_TRUE(WriteWithMode(KeyPath(), std::string(kHexKey) + "\n", 0644));
  auto k = LoadOrCreateKey(Where());
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().code(), Code::kPermissionDenied);
  EXPECT_NE(k.error().message().find("0644"), std::string::npos);
}

TEST_F(KeyFileTest, KeyFileReadableByGroupIsRefused) {
  ASSERT_TRUE(WriteWithMode(KeyPath(), kHexKey, 0640));
  EXPECT_EQ(LoadOrCreateKey(Where()).error().code(), Code::kPermissionDenied);
}

TEST_F(KeyFileTest, MalformedKeyFileIsCorruption) {
  ASSERT_TRUE(WriteWithMode(KeyPath(), "not a key\n", 0600));
  auto k = LoadOrCreateKey(Where());
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().code(), Code::kCorruption);
  EXPECT_NE(k.error().message().find(KeyPath().string()), std::string::npos);
}

TEST_F(KeyFileTest, SystemdCredentialIsPreferred) {
  std::filesystem::path creds = dir_.path() / "creds";
  std::filesystem::create_directory(creds);
  ASSERT_TRUE(WriteWithMode(creds / "queue.key", kHexKey, 0400));
  KeyLocation where = Where();
  where.credentials_directory = creds;
  auto k = LoadOrCreateKey(where);
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  EXPECT_EQ(k->path, creds / "queue.key");
  EXPECT_EQ(k->key.Id(), DataKey::FromHex(kHexKey, "")->Id());
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));
}

TEST_F(KeyFileTest, CredentialReadableByOthersIsRefused) {
  std::filesystem::path creds = dir_.path() / "creds";
  std::filesystem::create_directory(creds);
  ASSERT_TRUE(WriteWithMode(creds / "queue.key", kHexKey, 0444));
  KeyLocation where = Where();
  where.credentials_directory = creds;
  EXPECT_EQ(LoadOrCreateKey(where).error().code(), Code::kPermissionDenied);
}

TEST_F(KeyFileTest, MissingCredentialFallsBackToTheStateDirectory) {
  KeyLocation where = Where();
  where.credentials_directory = dir_.path() / "creds-without-key";
  auto k = LoadOrCreateKey(where);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->path, KeyPath());
}

TEST_F(KeyFileTest, QueueOpenRefusesAKeyFileReadableByOthers) {
  ASSERT_TRUE(WriteWithMode(KeyPath(), kHexKey, 0604));
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kPermissionDenied);
}

TEST_F(KeyFileTest, QueueOpenUsesCredentialsDirectory) {
  std::filesystem::path creds = dir_.path() / "creds";
  std::filesystem::create_directory(creds);
  ASSERT_TRUE(WriteWithMode(creds / "agent-queue-key", kHexKey, 0400));
  Options o = DefaultOptions();
  o.credentials_directory = creds;
  o.key_credential = "agent-queue-key";
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));
}

TEST_F(KeyFileTest, ReplacedKeyWithStoredSecretsIsRefused) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  queue_.reset();
  std::filesystem::remove(KeyPath());  // a lost key: a new one could not open r1's secret
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(q.error().message().find("restore"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));  // no new key stands in the way
}

TEST_F(KeyFileTest, ADifferentKeyWithStoredSecretsIsRefused) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  queue_.reset();
  ASSERT_TRUE(WriteWithMode(KeyPath(), kHexKey, 0600));
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(q.error().message().find("not the key"), std::string::npos);
}

TEST_F(KeyFileTest, ReplacedKeyWithoutStoredSecretsIsAccepted) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  queue_.reset();
  std::filesystem::remove(KeyPath());
  auto q = OpenQueue(DefaultOptions());
  EXPECT_TRUE(q.ok()) << q.error().ToString();
}

}  // namespace
}  // namespace wb::queue::testing
