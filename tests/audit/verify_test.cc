// Verify on intact trails and on each kind of tampering, each in its own test.
#include "tests/audit/trail_fixture.h"
#include "tests/support/hmac.h"

namespace wb::audit::testing {
namespace {

class VerifyTest : public TrailTest {
 protected:
  void SetUp() override { WriteTrail(6); }
  std::vector<std::string> Lines() const { return ReadLines(file()); }
  void Rewrite(const std::vector<std::string>& lines) const { WriteLines(file(), lines); }
};

// A record sealed with the test key, as someone holding the key could make it.
std::string SealWithTestKey(std::string body) {
  const std::string mac = wb::testing::HmacSha256Hex(std::string(kKeyBytes, 'k'), body);
  body.pop_back();
  return body + ",\"hmac\":\"" + mac + "\"}";
}

std::string BodyOf(const std::string& line) {
  return line.substr(0, line.rfind(",\"hmac\"")) + "}";
}

TEST_F(VerifyTest, IntactTrailVerifies) {
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.files, 1u);
  EXPECT_EQ(report.records, 6u);
  EXPECT_EQ(report.last_seq, 6u);
  EXPECT_EQ(report.checkpoint_seq, 6u);
}

TEST_F(VerifyTest, IntactRotatedTrailVerifies) {
  WriterOptions options = Options();
  options.rotate_size = 1500;
  WriteTrail(10, options);
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 16u);
  EXPECT_GT(report.files, 3u);
}

TEST(VerifyEmpty, EmptyTrailVerifies) {
  wb::testing::TempDir dir("wbaudit");
  std::filesystem::create_directories(dir.path() / "audit");
  auto report = audit::Verify({dir.path() / "audit" / "audit.jsonl", std::nullopt}, TestKey());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records, 0u);
}

TEST(VerifyEmpty, MissingDirectoryIsAnError) {
  auto report = audit::Verify({"/nonexistent/wbaudit/audit.jsonl", std::nullopt}, TestKey());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code(), Code::kNotFound);
}

TEST_F(VerifyTest, EditedFieldIsDetected) {
  std::vector<std::string> lines = Lines();
  lines[2].replace(lines[2].find("user3@"), 6, "mallo@");
  Rewrite(lines);
  Finding f = ExpectFinding(Problem::kBadHmac);
  EXPECT_EQ(f.file, file());
  EXPECT_EQ(f.line, 3u);
  EXPECT_EQ(Verify().records, 2u);
}

TEST_F(VerifyTest, EditedSeqIsDetected) {
  std::vector<std::string> lines = Lines();
  lines[3].replace(lines[3].find("\"seq\":4"), 7, "\"seq\":9");
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kBadHmac).line, 4u);
}

TEST_F(VerifyTest, WrongKeyIsDetectedAtTheFirstRecord) {
  auto report = audit::Verify({file(), checkpoint()}, TestKey('x'));
  ASSERT_TRUE(report.ok());
  ASSERT_TRUE(report->finding.has_value());
  // The checkpoint is read first but reported after the trail: the trail is what matters.
  EXPECT_EQ(report->finding->problem, Problem::kBadHmac);
  EXPECT_EQ(report->finding->line, 1u);
}

TEST_F(VerifyTest, DeletedRecordIsDetected) {
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin() + 3);
  Rewrite(lines);
  Finding f = ExpectFinding(Problem::kGap);
  EXPECT_EQ(f.line, 4u);
  EXPECT_NE(f.message.find("seq 5 follows seq 3: 1 record (seq 4) missing"), std::string::npos)
      << f.message;
}

TEST_F(VerifyTest, DeletedFirstRecordIsDetected) {
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin());
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kBadStart).line, 1u);
}

TEST_F(VerifyTest, ReorderedRecordsAreDetected) {
  std::vector<std::string> lines = Lines();
  std::swap(lines[2], lines[4]);
  Rewrite(lines);
  Finding f = ExpectFinding(Problem::kOutOfOrder);
  EXPECT_EQ(f.line, 3u);
  EXPECT_NE(f.message.find("reordered"), std::string::npos) << f.message;
}

TEST_F(VerifyTest, DuplicatedRecordIsDetected) {
  std::vector<std::string> lines = Lines();
  lines.insert(lines.begin() + 3, lines[2]);
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kOutOfOrder).line, 4u);
}

TEST_F(VerifyTest, TruncatedTailIsDetectedByTheCheckpoint) {
  std::vector<std::string> lines = Lines();
  lines.resize(4);
  Rewrite(lines);
  Finding f = ExpectFinding(Problem::kTruncated);
  EXPECT_EQ(f.line, 4u);
  EXPECT_NE(f.message.find("names seq 6"), std::string::npos) << f.message;
  // Without the checkpoint a removed tail cannot be seen: the chain before it is intact.
  EXPECT_TRUE(Verify(/*with_checkpoint=*/false).ok());
}

TEST_F(VerifyTest, WholeTrailRemovedIsDetectedByTheCheckpoint) {
  std::filesystem::remove(file());
  ExpectFinding(Problem::kTruncated);
}

TEST_F(VerifyTest, TruncationWithAnOlderCheckpointCopyIsNotDetected) {
  // The documented limit: the checkpoint is on the same host. Someone who kept a copy of an
  // old checkpoint can put it back together with a truncated trail.
  auto dir = dir_.path();
  WriteTrail(0);  // reopen/close: the checkpoint is at seq 6
  std::filesystem::copy_file(checkpoint(), dir / "old.checkpoint");
  WriteTrail(3);
  std::vector<std::string> lines = Lines();
  lines.resize(6);
  Rewrite(lines);
  std::filesystem::copy_file(dir / "old.checkpoint", checkpoint(),
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(VerifyTest, InsertedRecordWithWrongHmacIsDetected) {
  std::vector<std::string> lines = Lines();
  std::string forged = lines[2];
  forged.replace(forged.find("user3@"), 6, "mallo@");
  lines.insert(lines.begin() + 3, forged);
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kBadHmac).line, 4u);
}

TEST_F(VerifyTest, RecordWithValidHmacButWrongLinkIsDetected) {
  // Only a holder of the key can do this; the chain still shows where.
  std::vector<std::string> lines = Lines();
  std::string body = BodyOf(lines[3]);
  const std::size_t prev = body.find("\"prev\":\"") + 8;
  body.replace(prev, 64, std::string(64, 'a'));
  lines[3] = SealWithTestKey(body);
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kBrokenLink).line, 4u);
}

TEST_F(VerifyTest, NonCanonicalRecordIsDetected) {
  std::vector<std::string> lines = Lines();
  std::string body = BodyOf(lines[1]);
  body.replace(body.find("\"seq\":2"), 7, "\"seq\": 2");
  lines[1] = SealWithTestKey(body);
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kNotCanonical).line, 2u);
}

TEST_F(VerifyTest, GarbageLineIsDetected) {
  std::vector<std::string> lines = Lines();
  lines.insert(lines.begin() + 1, "hello");
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kMalformed).line, 2u);
}

class RotatedVerifyTest : public TrailTest {
 protected:
  void SetUp() override {
    WriterOptions options = Options();
    options.rotate_size = 1400;  // two records (678 bytes each) per file
    WriteTrail(9, options);
    ASSERT_TRUE(std::filesystem::exists(rotated(4)));
    ASSERT_FALSE(ReadLines(file()).empty());
  }
};

TEST_F(RotatedVerifyTest, MissingRotatedFileIsDetected) {
  std::filesystem::remove(rotated(2));
  Finding f = ExpectFinding(Problem::kMissingFile);
  EXPECT_EQ(f.file, rotated(2));
  EXPECT_NE(f.message.find("audit.jsonl.000002 is missing"), std::string::npos) << f.message;
}

TEST_F(RotatedVerifyTest, MissingOldestRotatedFileIsDetected) {
  std::filesystem::remove(rotated(1));
  EXPECT_EQ(ExpectFinding(Problem::kMissingFile).file, rotated(1));
}

TEST_F(RotatedVerifyTest, MissingNewestRotatedFileIsDetected) {
  std::filesystem::remove(rotated(4));
  Finding f = ExpectFinding(Problem::kGap);
  EXPECT_EQ(f.file, file());
  EXPECT_EQ(f.line, 1u);
  EXPECT_NE(f.message.find("rotated file"), std::string::npos) << f.message;
}

TEST_F(VerifyTest, TornFinalLineIsReportedDistinctly) {
  AppendBytes(file(), Lines()[5].substr(0, 80));
  Finding f = ExpectFinding(Problem::kTornTail);
  EXPECT_EQ(f.line, 7u);
  EXPECT_NE(f.message.find("80 bytes"), std::string::npos) << f.message;
  EXPECT_EQ(Verify().records, 6u);  // everything before it verified
}

TEST_F(VerifyTest, TornLineFollowedByMoreRecordsIsDetected) {
  // A torn line is only allowed where the writer recovers it: at the very end of the trail.
  std::vector<std::string> lines = Lines();
  lines[3] = lines[3].substr(0, 70) + lines[4];
  lines.erase(lines.begin() + 4);
  Rewrite(lines);
  Finding f = ExpectFinding(Problem::kMalformed);
  EXPECT_EQ(f.line, 4u);
  EXPECT_NE(f.message.find("torn"), std::string::npos) << f.message;
}

TEST_F(RotatedVerifyTest, TornLineAtTheEndOfAnOlderFileIsDetected) {
  std::vector<std::string> lines = ReadLines(rotated(2));
  WriteLines(rotated(2), {lines[0]});
  AppendBytes(rotated(2), lines[1].substr(0, 40));
  Finding f = ExpectFinding(Problem::kMalformed);
  EXPECT_EQ(f.file, rotated(2));
  EXPECT_EQ(f.line, 2u);
}

TEST_F(VerifyTest, EditedCheckpointIsDetected) {
  std::string text = wb::testing::ReadFileOrEmpty(checkpoint());
  text.replace(text.find("\"seq\":6"), 7, "\"seq\":3");
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  ExpectFinding(Problem::kCheckpointInvalid);
}

TEST_F(VerifyTest, DeletedCheckpointIsDetected) {
  std::filesystem::remove(checkpoint());
  ExpectFinding(Problem::kCheckpointMissing);
  EXPECT_TRUE(Verify(/*with_checkpoint=*/false).ok());
}

TEST_F(VerifyTest, ReplacedHeadIsDetectedByTheCheckpoint) {
  // A key holder re-seals a different last record with a correct link: only the checkpoint
  // still remembers the original.
  std::vector<std::string> lines = Lines();
  std::string body = BodyOf(lines[5]);
  body.replace(body.find("succeeded"), 9, "denied___");
  lines[5] = SealWithTestKey(body);
  Rewrite(lines);
  EXPECT_EQ(ExpectFinding(Problem::kCheckpointMismatch).line, 6u);
}

}  // namespace
}  // namespace wb::audit::testing
