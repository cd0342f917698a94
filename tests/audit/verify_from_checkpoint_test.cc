// VerifyFromCheckpoint, the fast path `wbagent doctor` runs: it checks the checkpoint and the
// records after it, and (its documented limit) nothing before the checkpointed record.
#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

class FastTrailTest : public TrailTest {
 protected:
  VerifyReport Fast() const {
    auto report = VerifyFromCheckpoint({file(), checkpoint()}, TestKey());
    EXPECT_TRUE(report.ok()) << report.error().ToString();
    return report.ok() ? *report : VerifyReport{};
  }
  Finding ExpectFastFinding(Problem problem) const {
    VerifyReport report = Fast();
    EXPECT_FALSE(report.ok()) << "the fast path passed; expected " << Name(problem);
    if (!report.finding) return {};
    EXPECT_EQ(Name(report.finding->problem), Name(problem)) << report.finding->message;
    return *report.finding;
  }
};

class VerifyFromCheckpointTest : public FastTrailTest {
 protected:
  // Six records with the checkpoint at seq 6, then four more whose checkpoint is put back to
  // the one naming seq 6: the state of a trail whose last records are not checkpointed yet.
  void SetUp() override {
    WriteTrail(6);
    std::filesystem::copy_file(checkpoint(), dir() / "at6.checkpoint");
    WriteTrail(4);
    RestoreCheckpointAt6();
  }
  void RestoreCheckpointAt6() const {
    std::filesystem::copy_file(dir() / "at6.checkpoint", checkpoint(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::vector<std::string> Lines() const { return ReadLines(file()); }
  void Rewrite(const std::vector<std::string>& lines) const { WriteLines(file(), lines); }
};

TEST_F(VerifyFromCheckpointTest, RecordsAfterTheCheckpointVerify) {
  VerifyReport report = Fast();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.from_seq, 6u);
  EXPECT_EQ(report.checkpoint_seq, 6u);
  EXPECT_EQ(report.records, 4u);  // seq 7 to 10; the checkpoint's own record is checked
  EXPECT_EQ(report.last_seq, 10u);
}

TEST_F(VerifyFromCheckpointTest, ACheckpointAtTheHeadVerifiesWithNoRecordsAfterIt) {
  WriteTrail(0);  // reopen and close: the checkpoint names seq 10
  VerifyReport report = Fast();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.from_seq, 10u);
  EXPECT_EQ(report.records, 0u);
  EXPECT_EQ(report.last_seq, 10u);
}

TEST_F(VerifyFromCheckpointTest, TamperedRecordAfterTheCheckpointFailsWithItsSeq) {
  std::vector<std::string> lines = Lines();
  lines[7].replace(lines[7].find("user2@"), 6, "mallo@");  // seq 8: the second WriteTrail's 2nd
  Rewrite(lines);
  Finding f = ExpectFastFinding(Problem::kBadHmac);
  EXPECT_EQ(f.file, file());
  EXPECT_EQ(f.line, 0u);          // the fast path does not count the lines before the checkpoint
  EXPECT_EQ(f.seq, 8u);           // as the line claims it: the HMAC failed
  EXPECT_EQ(Fast().records, 1u);  // seq 7 verified
}

TEST_F(VerifyFromCheckpointTest, ABrokenLinkAfterTheCheckpointFailsWithItsSeq) {
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin() + 7);  // seq 8
  Rewrite(lines);
  Finding f = ExpectFastFinding(Problem::kGap);
  EXPECT_EQ(f.seq, 9u);
  EXPECT_NE(f.message.find("seq 9 follows seq 7"), std::string::npos) << f.message;
}

TEST_F(VerifyFromCheckpointTest, TamperedCheckpointFails) {
  std::string text = wb::testing::ReadFileOrEmpty(checkpoint());
  text.replace(text.find("\"seq\":6"), 7, "\"seq\":3");
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  Finding f = ExpectFastFinding(Problem::kCheckpointInvalid);
  EXPECT_EQ(f.file, checkpoint());
}

TEST_F(VerifyFromCheckpointTest, ARemovedCheckpointRecordFailsAsAGap) {
  std::vector<std::string> lines = Lines();
  lines[5] = lines[4];  // seq 6 is gone, seq 5 is there twice
  Rewrite(lines);
  Finding f = ExpectFastFinding(Problem::kGap);
  EXPECT_NE(f.message.find("seq 6, the record the checkpoint names"), std::string::npos)
      << f.message;
}

TEST_F(VerifyFromCheckpointTest, ACheckpointRecordWithAnotherHashFails) {
  // The checkpoint of a different trail written with the same key names seq 6 with another
  // hash: the record at seq 6 here is not the one it names.
  {
    wb::testing::FakeClock other_clock;
    other_clock.Advance(std::chrono::hours(1));
    WriterOptions options = Options();
    options.file = dir() / "other" / "audit.jsonl";
    options.checkpoint_file = dir() / "other" / "audit.checkpoint";
    auto writer = Writer::Open(options, TestKey(), other_clock);
    ASSERT_TRUE(writer.ok()) << writer.error().ToString();
    for (int i = 1; i <= 6; ++i) {
      ASSERT_TRUE((*writer)->Append(SampleEvent(i + 100), Durability::kDurable).ok());
    }
    ASSERT_TRUE((*writer)->Close().ok());
    std::filesystem::copy_file(options.checkpoint_file, checkpoint(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  Finding f = ExpectFastFinding(Problem::kCheckpointMismatch);
  EXPECT_EQ(f.seq, 6u);
}

TEST_F(VerifyFromCheckpointTest, ARemovedTailFailsAsTruncated) {
  std::vector<std::string> lines = Lines();
  lines.resize(4);
  Rewrite(lines);
  Finding f = ExpectFastFinding(Problem::kTruncated);
  EXPECT_NE(f.message.find("names seq 6"), std::string::npos) << f.message;
}

TEST_F(VerifyFromCheckpointTest, AMissingCheckpointFallsBackToTheFullVerify) {
  std::filesystem::remove(checkpoint());
  VerifyReport report = Fast();
  EXPECT_FALSE(report.from_seq.has_value());  // the whole trail was read
  ASSERT_TRUE(report.finding.has_value());
  // Exactly what the full verify says of this trail.
  EXPECT_EQ(Name(report.finding->problem), Name(Problem::kCheckpointMissing));
  EXPECT_EQ(report.records, 10u);
}

TEST(VerifyFromCheckpointEmpty, AnEmptyTrailWithoutACheckpointFallsBackAndVerifies) {
  wb::testing::TempDir dir("wbaudit");
  std::filesystem::create_directories(dir.path() / "audit");
  auto report = VerifyFromCheckpoint(
      {dir.path() / "audit" / "audit.jsonl", dir.path() / "audit.checkpoint"}, TestKey());
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_FALSE(report->from_seq.has_value());
}

TEST_F(VerifyFromCheckpointTest, TamperedRecordBeforeTheCheckpointIsOnlyFoundByTheFullVerify) {
  // The documented limit of the fast path: it does not read the records before the
  // checkpoint's, so an edit there is found by `wbagent audit verify` only.
  std::vector<std::string> lines = Lines();
  lines[1].replace(lines[1].find("user2@"), 6, "mallo@");
  Rewrite(lines);
  EXPECT_TRUE(Fast().ok());
  EXPECT_EQ(Name(ExpectFinding(Problem::kBadHmac).problem), Name(Problem::kBadHmac));
}

TEST_F(VerifyFromCheckpointTest, AWitnessOrNoCheckpointFileIsRefused) {
  VerifyOptions options{file(), std::nullopt};
  auto no_checkpoint = VerifyFromCheckpoint(options, TestKey());
  ASSERT_FALSE(no_checkpoint.ok());
  EXPECT_EQ(no_checkpoint.error().code(), Code::kInvalidArgument);
  options.checkpoint_file = checkpoint();
  options.witness = Head{1, std::string(64, '0'), ""};
  auto witness = VerifyFromCheckpoint(options, TestKey());
  ASSERT_FALSE(witness.ok());
  EXPECT_EQ(witness.error().code(), Code::kInvalidArgument);
}

class RotatedVerifyFromCheckpointTest : public FastTrailTest {
 protected:
  void SetUp() override {
    WriterOptions options = Options();
    options.rotate_size = 1400;  // two records per file
    WriteTrail(5, options);
    std::filesystem::copy_file(checkpoint(), dir() / "at5.checkpoint");
    WriteTrail(4, options);
    std::filesystem::copy_file(dir() / "at5.checkpoint", checkpoint(),
                               std::filesystem::copy_options::overwrite_existing);
  }
};

TEST_F(RotatedVerifyFromCheckpointTest, TheCheckpointInARotatedFileStartsThereAndChecksTheRest) {
  VerifyReport report = Fast();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.from_seq, 5u);
  EXPECT_EQ(report.records, 4u);
  EXPECT_LT(report.files, 5u);  // the files before the checkpoint's are not read
}

// A missing rotated file is found as the full verify finds it, wherever it was. The newest
// rotated file leaves no jump in the names: its records are missing between the file before it
// and the active file.
TEST_F(RotatedVerifyFromCheckpointTest, TheNewestRotatedFileMissingIsTheGapTheFullVerifyFinds) {
  std::filesystem::remove(rotated(4));
  const Finding fast = ExpectFastFinding(Problem::kGap);
  const Finding full = ExpectFinding(Problem::kGap);
  EXPECT_EQ(fast.file, file());
  EXPECT_EQ(full.file, file());
}

TEST_F(RotatedVerifyFromCheckpointTest,
       AMissingRotatedFileBeforeTheCheckpointIsNamedFromTheListing) {
  std::filesystem::remove(rotated(1));
  EXPECT_EQ(ExpectFastFinding(Problem::kMissingFile).file, rotated(1));
  EXPECT_EQ(ExpectFinding(Problem::kMissingFile).file, rotated(1));
}

}  // namespace
}  // namespace wb::audit::testing
