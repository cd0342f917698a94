#include <sys/stat.h>

#include <thread>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

using wb::testing::ReadFileOrEmpty;
using wb::testing::WriteFile;

class KeyTest : public TrailTest {
 protected:
  KeyOptions KeyOpts(bool create) const {
    KeyOptions options;
    options.credentials_directory = dir() / "no-credentials";
    options.key_file = dir() / "state" / "audit.key";
    options.create_if_missing = create;
    return options;
  }
};

TEST_F(KeyTest, CreatesAPrivateKeyFileAtFirstStart) {
  auto key = LoadKey(KeyOpts(true));
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_TRUE(key->created);
  EXPECT_EQ(key->source, dir() / "state" / "audit.key");
  EXPECT_EQ(key->key.size(), kKeyBytes);
  struct stat st {};
  ASSERT_EQ(::stat(key->source.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const std::string text = ReadFileOrEmpty(key->source);
  EXPECT_EQ(text.size(), 2 * kKeyBytes + 1);
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef\n"), std::string::npos);

  auto again = LoadKey(KeyOpts(true));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->key.view(), key->key.view());
}

TEST_F(KeyTest, ConcurrentFirstStartsAgreeOnOneKey) {
  std::vector<std::string> keys(4);
  std::vector<std::thread> threads;
  for (auto& k : keys) {
    threads.emplace_back([&] {
      auto key = LoadKey(KeyOpts(true));
      ASSERT_TRUE(key.ok()) << key.error().ToString();
      k = std::string(key->key.view());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& k : keys) EXPECT_EQ(k, keys[0]);
}

TEST_F(KeyTest, MissingKeyIsNotCreatedUnlessAsked) {
  auto key = LoadKey(KeyOpts(false));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir() / "state" / "audit.key"));
}

TEST_F(KeyTest, KeyReadableByOthersIsRefused) {
  std::filesystem::create_directories(dir() / "state");
  ASSERT_TRUE(WriteFile(dir() / "state" / "audit.key", std::string(64, 'a') + "\n", 0644).ok());
  auto key = LoadKey(KeyOpts(true));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(key.error().message().find("aaaa"), std::string::npos);
}

TEST_F(KeyTest, ShortOrNonHexKeyIsRefused) {
  std::filesystem::create_directories(dir() / "state");
  ASSERT_TRUE(WriteFile(dir() / "state" / "audit.key", std::string(62, 'a'), 0600).ok());
  EXPECT_EQ(LoadKey(KeyOpts(false)).error().code(), Code::kInvalidArgument);
  ASSERT_TRUE(WriteFile(dir() / "state" / "audit.key", std::string(64, 'z'), 0600).ok());
  auto key = LoadKey(KeyOpts(false));
  EXPECT_EQ(key.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(key.error().message().find("zzzz"), std::string::npos);
}

TEST_F(KeyTest, SystemdCredentialComesFirst) {
  std::filesystem::create_directories(dir() / "creds");
  ASSERT_TRUE(WriteFile(dir() / "creds" / "audit.key", std::string(64, 'b'), 0400).ok());
  KeyOptions options = KeyOpts(true);
  options.credentials_directory = dir() / "creds";
  auto key = LoadKey(options);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->source, dir() / "creds" / "audit.key");
  EXPECT_EQ(key->key.view(), std::string(kKeyBytes, '\xbb'));
  EXPECT_FALSE(key->created);
  EXPECT_FALSE(std::filesystem::exists(options.key_file));
}

TEST_F(KeyTest, KeyFileIsUsedWhenTheCredentialIsAbsent) {
  std::filesystem::create_directories(dir() / "creds");
  KeyOptions options = KeyOpts(true);
  options.credentials_directory = dir() / "creds";
  auto key = LoadKey(options);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->source, options.key_file);
}

}  // namespace
}  // namespace wb::audit::testing
