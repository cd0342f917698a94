// The witness (audit.h, "The witness"): the head the agent gives away, and what a trail that
// does not hold it looks like to Verify and to Writer::CheckWitness. Each way of losing records
// that the checkpoint cannot see has its test here.
#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

class WitnessTest : public TrailTest {
 protected:
  // Writes `n` records durably and returns the head a witness would then hold.
  Head WriteAndTakeHead(int n, WriterOptions options) {
    auto writer = Open(std::move(options));
    EXPECT_NE(writer, nullptr);
    for (int i = 1; i <= n; ++i) {
      EXPECT_TRUE(writer->Append(SampleEvent(i), Durability::kDurable).ok());
    }
    Head head = writer->DurableHead();
    EXPECT_TRUE(writer->Close().ok());
    return head;
  }
  Head WriteAndTakeHead(int n) { return WriteAndTakeHead(n, Options()); }

  VerifyReport VerifyWith(const Head& witness, bool with_checkpoint = true) const {
    VerifyOptions options{file(), std::nullopt, witness};
    if (with_checkpoint) options.checkpoint_file = checkpoint();
    auto report = audit::Verify(options, TestKey());
    EXPECT_TRUE(report.ok()) << report.error().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  WitnessCheck CheckWithNewWriter(const Head& head) {
    auto writer = Open();
    EXPECT_NE(writer, nullptr);
    auto check = writer->CheckWitness(head);
    EXPECT_TRUE(check.ok()) << check.error().ToString();
    return check.ok() ? *check : WitnessCheck::kHeld;
  }

  void DeleteTrailAndCheckpoint() {
    std::filesystem::remove_all(file().parent_path());
    std::filesystem::remove(checkpoint());
  }
};

// Flips the last hex digit: the same length, another value.
std::string Altered(std::string hex) {
  hex.back() = hex.back() == '0' ? '1' : '0';
  return hex;
}

TEST_F(WitnessTest, DurableHeadIsTheCheckpointedRecordAndVerifies) {
  const Head head = WriteAndTakeHead(6);
  EXPECT_EQ(head.seq, 6u);
  EXPECT_EQ(VerifyWith(head).finding, std::nullopt);
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kHeld);
}

TEST_F(WitnessTest, BufferedRecordsAreNotInTheDurableHeadUntilSynced) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Append(SampleEvent(1), Durability::kDurable).ok());
  const Head durable = writer->DurableHead();
  ASSERT_TRUE(writer->Append(SampleEvent(2), Durability::kBuffered).ok());
  // A crash of the host could still lose record 2: the witness must not be told of it.
  EXPECT_EQ(writer->DurableHead(), durable);
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(writer->DurableHead().seq, durable.seq + 1);
}

TEST_F(WitnessTest, EmptyTrailHeadIsSeqZeroAndHeldByAnyTrail) {
  const Head empty = WriteAndTakeHead(0);
  EXPECT_EQ(empty.seq, 0u);
  EXPECT_EQ(empty.hash, std::string(64, '0'));
  WriteTrail(3);
  EXPECT_EQ(VerifyWith(empty).finding, std::nullopt);
  EXPECT_EQ(CheckWithNewWriter(empty), WitnessCheck::kHeld);
}

TEST_F(WitnessTest, DeletedTrailAndCheckpointAreOnlySeenByTheWitness) {
  const Head head = WriteAndTakeHead(6);
  DeleteTrailAndCheckpoint();
  std::filesystem::create_directories(file().parent_path());
  // The documented limit of the checkpoint: nothing left to compare with.
  EXPECT_TRUE(Verify().ok());
  const Finding f = *VerifyWith(head).finding;
  EXPECT_EQ(f.problem, Problem::kWitnessMissing);
  EXPECT_NE(f.message.find("6 records missing"), std::string::npos) << f.message;
  // A new chain started in their place (as the daemon's Writer does) does not hold it either.
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kMissing);
}

TEST_F(WitnessTest, CheckpointRolledBackToSeqZeroWithTheTrailIsSeenByTheWitness) {
  WriteAndTakeHead(0);
  std::filesystem::copy_file(checkpoint(), dir() / "seq0.checkpoint");
  const Head head = WriteAndTakeHead(6);
  WriteLines(file(), {});
  std::filesystem::copy_file(dir() / "seq0.checkpoint", checkpoint(),
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(Verify().ok());
  EXPECT_EQ(VerifyWith(head).finding->problem, Problem::kWitnessMissing);
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kMissing);
}

TEST_F(WitnessTest, TruncationWithAnOlderCheckpointCopyIsSeenByTheWitness) {
  // VerifyTest.TruncationWithAnOlderCheckpointCopyIsNotDetected, with a witness.
  WriteTrail(6);
  std::filesystem::copy_file(checkpoint(), dir() / "old.checkpoint");
  const Head head = WriteAndTakeHead(3);
  std::vector<std::string> lines = ReadLines(file());
  lines.resize(6);
  WriteLines(file(), lines);
  std::filesystem::copy_file(dir() / "old.checkpoint", checkpoint(),
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(Verify().ok());
  EXPECT_EQ(VerifyWith(head).finding->problem, Problem::kWitnessMissing);
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kMissing);
}

TEST_F(WitnessTest, TrailRewrittenByAKeyHolderIsSeenByTheWitness) {
  const Head head = WriteAndTakeHead(6);
  DeleteTrailAndCheckpoint();
  // The same key, the same number of records, other content: every HMAC and link verifies.
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  for (int i = 11; i <= 16; ++i) {
    ASSERT_TRUE(writer->Append(SampleEvent(i), Durability::kDurable).ok());
  }
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
  const Finding f = *VerifyWith(head).finding;
  EXPECT_EQ(f.problem, Problem::kWitnessReplaced);
  EXPECT_EQ(f.line, 6u);
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kReplaced);
}

TEST_F(WitnessTest, HeadWhoseHmacDoesNotVerifyIsForged) {
  const Head head = WriteAndTakeHead(6);
  Head forged = head;
  forged.hmac = Altered(head.hmac);
  EXPECT_EQ(VerifyWith(forged).finding->problem, Problem::kWitnessForged);
  EXPECT_EQ(CheckWithNewWriter(forged), WitnessCheck::kForged);
  // A witness cannot move a real head forward either: the HMAC covers the seq.
  Head ahead = head;
  ahead.seq = 60;
  EXPECT_EQ(VerifyWith(ahead).finding->problem, Problem::kWitnessForged);
  EXPECT_EQ(CheckWithNewWriter(ahead), WitnessCheck::kForged);
}

TEST_F(WitnessTest, HeadFromAnotherKeyIsForged) {
  const Head head = WriteAndTakeHead(6);
  auto other = Writer::Open(
      {.file = dir() / "other" / "audit.jsonl", .checkpoint_file = dir() / "other.checkpoint"},
      TestKey('x'), clock_);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*(*other)->CheckWitness(head), WitnessCheck::kForged);
}

TEST_F(WitnessTest, HeadWithoutHmacIsCheckedByItsHash) {
  Head head = WriteAndTakeHead(6);
  head.hmac.clear();
  EXPECT_EQ(VerifyWith(head).finding, std::nullopt);
  head.hash = Altered(head.hash);
  EXPECT_EQ(VerifyWith(head).finding->problem, Problem::kWitnessReplaced);
  EXPECT_EQ(CheckWithNewWriter(head), WitnessCheck::kReplaced);
}

TEST_F(WitnessTest, OlderHeadIsFoundInARotatedFile) {
  WriterOptions options = Options();
  options.rotate_size = 1500;
  const Head old_head = WriteAndTakeHead(3, options);
  WriteTrail(20, options);
  ASSERT_TRUE(std::filesystem::exists(rotated(3)));
  auto writer = Open(options);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(*writer->CheckWitness(old_head), WitnessCheck::kHeld);
  Head unsigned_other = old_head;
  unsigned_other.hmac.clear();
  unsigned_other.hash = Altered(old_head.hash);
  EXPECT_EQ(*writer->CheckWitness(unsigned_other), WitnessCheck::kReplaced);
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_EQ(VerifyWith(old_head).finding, std::nullopt);
}

TEST_F(WitnessTest, RemovedRotatedFileHoldingTheHeadIsMissing) {
  WriterOptions options = Options();
  options.rotate_size = 1500;
  const Head old_head = WriteAndTakeHead(3, options);
  WriteTrail(20, options);
  int holder = 1;
  while (ReadLines(rotated(holder)).back().rfind("{\"v\":1,\"seq\":3,", 0) != 0 &&
         ReadLines(rotated(holder)).front().rfind("{\"v\":1,\"seq\":3,", 0) != 0) {
    ASSERT_LT(++holder, 10);
  }
  std::filesystem::remove(rotated(holder));
  auto writer = Open(options);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(*writer->CheckWitness(old_head), WitnessCheck::kMissing);
}

TEST(HeadText, FormatAndParseRoundTrip) {
  const Head head{42, std::string(64, 'a'), std::string(64, 'b')};
  EXPECT_EQ(FormatHead(head), "42:" + std::string(64, 'a') + ":" + std::string(64, 'b'));
  EXPECT_EQ(*ParseHead(FormatHead(head)), head);
  const Head no_hmac{42, std::string(64, 'a'), ""};
  EXPECT_EQ(*ParseHead("42:" + std::string(64, 'a')), no_hmac);
}

TEST(HeadText, MalformedHeadsAreRefusedWithTheReason) {
  const std::string hex(64, 'a');
  const std::pair<std::string, std::string> cases[] = {
      {"", "no ':'"},
      {"x:" + hex, "seq is not a number"},
      {"-1:" + hex, "seq is not a number"},
      {"1:" + hex.substr(1), "hash is not 64"},
      {"1:" + std::string(64, 'A'), "hash is not 64"},
      {"1:" + hex + ":" + hex.substr(2), "HMAC is not 64"},
      {"1:" + hex + ":", "HMAC is not 64"},
      {"0:" + hex, "seq 0 is the empty trail"},
  };
  for (const auto& [text, why] : cases) {
    auto parsed = ParseHead(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find(why), std::string::npos)
        << text << ": " << parsed.error().message();
  }
}

}  // namespace
}  // namespace wb::audit::testing
