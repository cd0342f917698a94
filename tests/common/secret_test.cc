#include "common/secret.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

namespace wb {
namespace {

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/wbsecret-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Write(const std::string& name, const std::string& content, mode_t mode) {
    auto path = dir_ / name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::fchmod(fd, mode);
    ::close(fd);
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(SecretFileTest, OwnerOnlyFileIsReadWithoutTrailingNewline) {
  auto secret = ReadSecretFile(Write("pw", "s3cret\n", 0600));
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  EXPECT_EQ(secret->view(), "s3cret");
}

TEST_F(SecretFileTest, GroupReadableFileIsRefused) {
  auto secret = ReadSecretFile(Write("pw", "s3cret", 0640));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().code(), Code::kPermissionDenied);
  EXPECT_NE(secret.error().message().find("0640"), std::string::npos);
  EXPECT_EQ(secret.error().message().find("s3cret"), std::string::npos);
}

TEST_F(SecretFileTest, WorldReadableFileIsRefused) {
  EXPECT_EQ(CheckSecretFilePermissions(Write("pw", "x", 0604)).code(), Code::kPermissionDenied);
}

TEST_F(SecretFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSecretFile(dir_ / "absent").error().code(), Code::kNotFound);
}

TEST_F(SecretFileTest, DirectoryIsRefused) {
  std::filesystem::create_directory(dir_ / "d");
  ::chmod((dir_ / "d").c_str(), 0700);
  EXPECT_EQ(ReadSecretFile(dir_ / "d").error().code(), Code::kInvalidArgument);
}

TEST_F(SecretFileTest, FifoIsRefusedWithoutWaitingForAWriter) {
  const auto fifo = dir_ / "pw";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&fifo] { return ReadSecretFile(fifo); });
  if (read.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    // Unblock the read so that the test can end, and fail.
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
    FAIL() << "ReadSecretFile waited for a writer on a FIFO";
  }
  const Result<Secret> result = read.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), Code::kInvalidArgument) << result.error().ToString();
  EXPECT_NE(result.error().message().find("not a regular file"), std::string::npos);
}

TEST_F(SecretFileTest, SymlinkIsRefused) {
  auto target = Write("pw", "x", 0600);
  std::filesystem::create_symlink(target, dir_ / "link");
  auto read = ReadSecretFile(dir_ / "link");
  ASSERT_FALSE(read.ok());
  // Refused for being a link (O_NOFOLLOW), not for anything about the file it points to.
  const Status as_a_link = ErrnoStatus(ELOOP, (dir_ / "link").string());
  EXPECT_EQ(read.error().code(), as_a_link.code()) << read.error().ToString();
  EXPECT_EQ(read.error().message(), as_a_link.message());
}

TEST(SecretTest, MoveLeavesSourceEmpty) {
  Secret a("value");
  Secret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.view(), "value");
}

TEST(SecretTest, WipeClearsTheBytes) {
  Secret a("value");
  a.Wipe();
  EXPECT_TRUE(a.empty());
}

}  // namespace
}  // namespace wb
