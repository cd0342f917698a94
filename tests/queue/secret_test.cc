// Passwords at rest: encrypted, decrypted for the worker, erased once the request is final,
// and absent from the database files in any encoding.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

class SecretAtRestTest : public QueueTest {
 protected:
  void SetUp() override { Open(); }

  std::string StoredSecret(const std::string& id) {
    return RawSql(db_path(), "SELECT secret FROM requests WHERE id = '" + id + "'");
  }
  void SetStoredSecret(const std::string& id, std::string_view blob) {
    RawSql(db_path(), "UPDATE requests SET secret = X'" + Hex(blob) + "' WHERE id = '" + id + "'");
  }

  // Whether any of the database files holds `needle` as bytes.
  bool FilesContain(std::string_view needle) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      if (FileContains(db_path().string() + suffix, needle)) return true;
    }
    return false;
  }
  bool FilesContainPassword(std::string_view pw) {
    return FilesContain(pw) || FilesContain(Utf16Le(pw));
  }
};

TEST_F(SecretAtRestTest, PasswordsSurviveTheRoundTrip) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  req.new_password = Secret("N\xc3\xa9w p\xc3\xa4ss \xe2\x82\xac 1!");  // non-ASCII UTF-8
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  Reopen();
  Work w = MustTake();
  EXPECT_EQ(w.new_password.view(), req.new_password.view());
  EXPECT_EQ(w.old_password.view(), req.old_password.view());
}

TEST_F(SecretAtRestTest, StoredSecretIsCiphertext) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  std::string sealed = StoredSecret("r1");
  EXPECT_GT(sealed.size(), 28u);
  EXPECT_EQ(sealed.find(req.new_password.view()), std::string::npos);
  EXPECT_FALSE(FilesContainPassword(req.new_password.view()));
  EXPECT_FALSE(FilesContainPassword(req.old_password.view()));
}

TEST_F(SecretAtRestTest, DatabaseFilesHoldNoPasswordAfterCompletion) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  const std::string sealed = StoredSecret("r1");
  ASSERT_FALSE(sealed.empty());
  ASSERT_TRUE(FilesContain(sealed));
  {
    Work w = MustTake();
    ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  }
  EXPECT_EQ(RawSql(db_path(), "SELECT secret IS NULL FROM requests WHERE id = 'r1'"),
            std::string("1"));
  EXPECT_FALSE(FilesContainPassword(req.new_password.view()));
  EXPECT_FALSE(FilesContainPassword(req.old_password.view()));

  // After the checkpoint, not even the erased ciphertext remains in any file.
  ASSERT_TRUE(queue_->Maintain().ok());
  EXPECT_FALSE(FilesContain(sealed));
  EXPECT_FALSE(FilesContainPassword(req.new_password.view()));
  EXPECT_FALSE(FilesContainPassword(req.old_password.view()));
  queue_.reset();  // closing checkpoints and removes the -wal file
  EXPECT_FALSE(FilesContain(sealed));
  EXPECT_FALSE(FilesContainPassword(req.new_password.view()));
}

// A reader that holds an old snapshot (an administrator's sqlite3 shell, a backup) keeps the
// erased ciphertext in the WAL: the maintenance says so instead of reporting it truncated, and
// truncates it once the reader has gone.
TEST_F(SecretAtRestTest, AWalThatAReaderKeepsIsReportedAndTruncatedOnceItHasGone) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  const std::string sealed = StoredSecret("r1");
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM requests;", nullptr, nullptr, nullptr),
      SQLITE_OK);
  {
    Work w = MustTake();
    ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  }
  auto held = queue_->Maintain();  // waits out the busy timeout for the reader
  ASSERT_TRUE(held.ok()) << held.error().ToString();
  EXPECT_EQ(held->wal_checkpoint.code(), Code::kUnavailable) << held->wal_checkpoint.ToString();
  EXPECT_TRUE(FilesContain(sealed)) << "the reader's snapshot needs the old frames";
  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(reader);
  auto released = queue_->Maintain();
  ASSERT_TRUE(released.ok()) << released.error().ToString();
  EXPECT_TRUE(released->wal_checkpoint.ok()) << released->wal_checkpoint.ToString();
  EXPECT_FALSE(FilesContain(sealed));
}

TEST_F(SecretAtRestTest, RejectedAndExpiredRequestsAreErasedToo) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "bob", clock_.Now(), seconds(10))).ok());
  const std::string s1 = StoredSecret("r1");
  const std::string s2 = StoredSecret("r2");
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  clock_.Advance(seconds(11));
  ASSERT_TRUE(queue_->Maintain().ok());
  EXPECT_EQ(queue_->Show("r2")->record.state, State::kExpired);
  EXPECT_FALSE(FilesContain(s1));
  EXPECT_FALSE(FilesContain(s2));
}

TEST_F(SecretAtRestTest, TamperedCiphertextFailsWithCorruptionAndTheQueueMovesOn) {
  AddReady("r1", "alice");
  AddReady("r2", "bob");
  std::string sealed = StoredSecret("r1");
  sealed[sealed.size() / 2] ^= 0x01;
  SetStoredSecret("r1", sealed);

  auto w = queue_->Take();
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), Code::kCorruption);
  EXPECT_NE(w.error().message().find("r1"), std::string::npos);
  Record r1 = queue_->Show("r1")->record;
  EXPECT_EQ(r1.state, State::kFailed);
  EXPECT_EQ(r1.outcome->code, "secret_unreadable");
  EXPECT_FALSE(r1.secret_stored);
  EXPECT_EQ(MustTake().new_password.view(), PasswordFor("r2"));
}

// The caller records and reports the end the queue made: Take hands it the record as stored,
// so that nothing needs a second read between the end and its record.
TEST_F(SecretAtRestTest, TakeHandsTheRequestItFailedToTheCaller) {
  AddReady("r1", "alice");
  AddReady("r2", "bob");
  std::string sealed = StoredSecret("r1");
  sealed[sealed.size() / 2] ^= 0x01;
  SetStoredSecret("r1", sealed);

  std::optional<Record> unreadable;
  auto w = queue_->Take(&unreadable);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), Code::kCorruption);
  ASSERT_TRUE(unreadable.has_value());
  EXPECT_EQ(unreadable->info.id, "r1");
  EXPECT_EQ(unreadable->state, State::kFailed);
  ASSERT_TRUE(unreadable->outcome.has_value());
  EXPECT_EQ(unreadable->outcome->code, kSecretUnreadable);
  EXPECT_EQ(unreadable->finished_at, queue_->Show("r1")->record.finished_at);
  // It waits in the outbox for its result to be sent.
  auto pending = queue_->PendingResults(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].info.id, "r1");

  // The next call takes the next request and leaves nothing stale behind.
  auto next = queue_->Take(&unreadable);
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->record.info.id, "r2");
  EXPECT_FALSE(unreadable.has_value());
}

TEST_F(SecretAtRestTest, CiphertextOfAnotherRequestFailsWithCorruption) {
  AddReady("r1", "alice");
  AddReady("r2", "bob");
  SetStoredSecret("r1", StoredSecret("r2"));  // valid ciphertext, wrong associated data
  auto w = queue_->Take();
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), Code::kCorruption);
  EXPECT_EQ(w.error().message().find(PasswordFor("r2")), std::string::npos);
}

TEST_F(SecretAtRestTest, TruncatedCiphertextFailsWithCorruption) {
  AddReady("r1", "alice");
  SetStoredSecret("r1", StoredSecret("r1").substr(0, 10));
  EXPECT_EQ(queue_->Take().error().code(), Code::kCorruption);
}

}  // namespace
}  // namespace wb::queue::testing
