// The state directory: file modes, the exclusive lock, schema versions, a corrupt file, and a
// full disk.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "tests/queue/queue_test_util.h"
#include "tests/support/tmpfs.h"

namespace wb::queue::testing {
namespace {

mode_t ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class StorageTest : public QueueTest {
 protected:
  // Enqueues requests with a bulky (non-secret) payload until one is refused; returns the ids
  // accepted, and the refusal in `refusal`.
  std::vector<std::string> FillUntilRefused(Status& refusal, int max = 2000,
                                            const std::string& prefix = "fill-") {
    std::vector<std::string> accepted;
    for (int i = 0; i < max; ++i) {
      std::string id = prefix + std::to_string(i);
      Request req = MakeReset(id, id, clock_.Now());
      req.info.requester_json = "{\"note\":\"" + std::string(1500, 'x') + "\"}";
      auto r = queue_->Enqueue(req);
      if (!r.ok()) {
        refusal = r.error();
        return accepted;
      }
      accepted.push_back(id);
    }
    refusal = Status::Ok();
    return accepted;
  }

  // Every accepted request is still stored, unfinished, with a secret that decrypts.
  void ExpectIntact(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      auto d = queue_->Show(id);
      ASSERT_TRUE(d.ok()) << id << ": " << d.error().ToString();
      EXPECT_EQ(d->record.state, State::kReceived) << id;
      EXPECT_TRUE(d->record.secret_stored) << id;
    }
  }
  void ExpectDecryptable(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) ASSERT_TRUE(queue_->MarkReady(id).ok()) << id;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      Work w = MustTake();
      EXPECT_EQ(w.new_password.view(), PasswordFor(w.record.info.id));
      ASSERT_TRUE(queue_->Finish(w.record.info.id, Succeeded()).ok());
    }
  }
};

TEST_F(StorageTest, AllFilesAreOwnerOnly) {
  Open();
  AddReady("r1", "alice");
  for (const char* name : {"queue.db", "queue.db-wal", "queue.db-shm", "queue.key", "queue.lock"}) {
    EXPECT_EQ(ModeOf(state_dir() / name) & 077, 0u) << name;
  }
  EXPECT_EQ(ModeOf(state_dir()), 0700u);
}

TEST_F(StorageTest, AnExistingDatabaseReadableByOthersIsTightened) {
  Open();
  queue_.reset();
  ASSERT_EQ(::chmod(db_path().c_str(), 0644), 0);
  Open();
  AddReady("r1", "alice");
  EXPECT_EQ(ModeOf(db_path()), 0600u);
  EXPECT_EQ(ModeOf(db_path().string() + "-wal") & 077, 0u);
}

TEST_F(StorageTest, ASecondOpenOfTheStateDirectoryIsRefused) {
  Open();
  auto second = OpenQueue(DefaultOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(second.error().message().find(state_dir().string()), std::string::npos);
  EXPECT_NE(second.error().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message();
}

TEST_F(StorageTest, TheLockIsReleasedOnClose) {
  Open();
  queue_.reset();
  Open();
}

TEST_F(StorageTest, ASecondProcessOnTheStateDirectoryIsRefused) {
  std::filesystem::create_directory(state_dir());
  const auto log = dir_.path() / "holder.log";
  auto holder =
      wb::testing::ChildProcess::Start({WB_QUEUE_TEST_HELPER, "hold", state_dir().string()}, log);
  ASSERT_TRUE(holder.ok()) << holder.error().ToString();
  ASSERT_TRUE(wb::testing::WaitUntil(
                  [&] {
                    return wb::testing::ReadFileOrEmpty(log).find("holding") != std::string::npos
                               ? Status::Ok()
                               : Unavailable(wb::testing::ReadFileOrEmpty(log));
                  },
                  std::chrono::seconds(20), &*holder)
                  .ok());
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(q.error().message().find("pid " + std::to_string(holder->pid())), std::string::npos)
      << q.error().message();
  holder->Signal(SIGKILL);
  ASSERT_TRUE(holder->Wait(std::chrono::seconds(10)).ok());
  Open();  // the kernel dropped the dead holder's lock
}

TEST_F(StorageTest, ASchemaNewerThanThisBuildIsRefusedAndLeftAlone) {
  Open();
  queue_.reset();
  RawSql(db_path(), "PRAGMA user_version = 99");
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(q.error().message().find("99"), std::string::npos);
  EXPECT_NE(q.error().message().find("newer"), std::string::npos);
  EXPECT_EQ(RawSql(db_path(), "PRAGMA user_version"), "99");
}

TEST_F(StorageTest, ReadOnlyOpenOfAnOlderSchemaIsRefused) {
  Open();
  queue_.reset();
  RawSql(db_path(), "PRAGMA user_version = 0");
  Options o = DefaultOptions();
  o.read_only = true;
  auto q = OpenQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(q.error().message().find("migrate"), std::string::npos);
}

TEST_F(StorageTest, AFileThatIsNotADatabaseIsCorruption) {
  std::filesystem::create_directory(state_dir());
  ASSERT_TRUE(wb::testing::WriteFile(db_path(), std::string(8192, 'Z') + "not sqlite", 0600).ok());
  auto q = OpenQueue(DefaultOptions());
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Code::kCorruption) << q.error().ToString();
}

TEST_F(StorageTest, OptionsWithoutStateDirAreInvalid) {
  Options o = DefaultOptions();
  o.state_dir.clear();
  EXPECT_EQ(OpenQueue(o).error().code(), Code::kInvalidArgument);
}

TEST_F(StorageTest, OptionsWithoutInFlightCapacityAreInvalid) {
  Options o = DefaultOptions();
  o.max_in_flight = 0;
  EXPECT_EQ(OpenQueue(o).error().code(), Code::kInvalidArgument);
}

TEST_F(StorageTest, DatabaseSizeCapRefusesNewRequestsAndKeepsAcceptedOnes) {
  Options o = DefaultOptions();
  o.max_db_bytes = 96 * 1024;
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  queue_ = std::move(q).value();
  Status refusal;
  std::vector<std::string> accepted = FillUntilRefused(refusal);
  ASSERT_FALSE(refusal.ok()) << "the cap was never reached";
  EXPECT_EQ(refusal.code(), Code::kResourceExhausted) << refusal.ToString();
  EXPECT_GT(accepted.size(), 5u);
  EXPECT_EQ(queue_->Show("fill-" + std::to_string(accepted.size())).error().code(),
            Code::kNotFound);
  ExpectIntact(accepted);
  Status again;
  FillUntilRefused(again, 1, "again-");
  EXPECT_EQ(again.code(), Code::kResourceExhausted);

  queue_.reset();
  Open();  // without the cap
  ExpectIntact(accepted);
  ExpectDecryptable(accepted);
  EXPECT_TRUE(queue_->Enqueue(MakeReset("after", "after", clock_.Now())).ok());
}

// A real full file system: a small tmpfs (needs root; skipped otherwise, outside CI).
TEST_F(StorageTest, AFullDiskRefusesNewRequestsAndKeepsAcceptedOnes) {
  auto tmpfs = wb::testing::SmallTmpfs::Mount(dir_.path() / "small", "1m");
  if (!tmpfs.ok()) {
    if (wb::testing::TmpfsIsRequired()) FAIL() << tmpfs.error().ToString();
    GTEST_SKIP() << tmpfs.error().ToString();
  }
  const std::filesystem::path mnt = (*tmpfs)->path();
  // Ballast to delete later, so the test can show recovery once space is free again.
  ASSERT_TRUE(wb::testing::WriteFile(mnt / "ballast", std::string(512 * 1024, 'b')).ok());

  Options o = DefaultOptions();
  o.state_dir = mnt / "state";
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  queue_ = std::move(q).value();
  Status refusal;
  std::vector<std::string> accepted = FillUntilRefused(refusal);
  ASSERT_FALSE(refusal.ok()) << "the disk never filled";
  EXPECT_EQ(refusal.code(), Code::kResourceExhausted) << refusal.ToString();
  EXPECT_GT(accepted.size(), 5u);
  ExpectIntact(accepted);
  for (int i = 0; i < 3; ++i) {
    Status again;
    FillUntilRefused(again, 1, "again-" + std::to_string(i) + "-");
    EXPECT_EQ(again.code(), Code::kResourceExhausted) << again.ToString();
  }
  ExpectIntact(accepted);

  std::filesystem::remove(mnt / "ballast");
  queue_.reset();
  auto reopened = OpenQueue(o);
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  queue_ = std::move(reopened).value();
  ExpectIntact(accepted);
  ExpectDecryptable(accepted);
}

}  // namespace
}  // namespace wb::queue::testing
