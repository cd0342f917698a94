#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace wb {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/wbfiles-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::filesystem::path dir_;
};

TEST_F(FilesTest, WriteFileAtomicReplacesContentWithExactMode) {
  const auto p = dir_ / "state.json";
  ASSERT_TRUE(WriteFileAtomic(p, "old", 0644).ok());
  ::umask(022);
  ASSERT_TRUE(WriteFileAtomic(p, "new", 0600).ok());
  EXPECT_EQ(Read(p), "new");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(FilesTest, WriteFileAtomicLeavesNoTemporaryFiles) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a", "x", 0600).ok());
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(FilesTest, WriteFileAtomicIntoAMissingDirectoryFailsCleanly) {
  Status s = WriteFileAtomic(dir_ / "missing" / "a", "x", 0600);
  EXPECT_EQ(s.code(), Code::kNotFound);
}

}  // namespace
}  // namespace wb
