// StartNewChain: the evidence kept as it is, and a new chain whose first record names it.
#include <openssl/evp.h>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    const unsigned char b = digest[i];
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

class NewChainTest : public TrailTest {
 protected:
  NewChainOptions Options() const {
    return {.file = file(),
            .checkpoint_file = checkpoint(),
            .evidence_dir = evidence(),
            .agent_id = "agent-1"};
  }
  std::filesystem::path evidence() const { return dir() / "evidence"; }

  // Five records, the third edited: Verify finds bad_hmac at line 3.
  std::vector<std::string> Tamper() {
    WriteTrail(5);
    std::vector<std::string> lines = ReadLines(file());
    lines[2].replace(lines[2].find("succeeded"), 9, "SUCCEEDED");
    WriteLines(file(), lines);
    return lines;
  }
};

TEST_F(NewChainTest, ATamperedTrailIsKeptAsItIsAndTheNewChainNamesItsHead) {
  const std::vector<std::string> tampered = Tamper();
  const std::string old_checkpoint = wb::testing::ReadFileOrEmpty(checkpoint());
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_TRUE(chain.ok()) << chain.error().ToString();
  EXPECT_EQ(Name(chain->old_report.finding->problem), "bad_hmac");
  EXPECT_EQ(chain->old_head.seq, 5u);
  EXPECT_EQ(chain->old_head.hash, Sha256Hex(tampered[4]));
  EXPECT_EQ(chain->moved, (std::vector<std::filesystem::path>{evidence() / "audit.jsonl",
                                                              evidence() / "audit.checkpoint"}));
  EXPECT_EQ(ReadLines(evidence() / "audit.jsonl"), tampered);
  EXPECT_EQ(wb::testing::ReadFileOrEmpty(evidence() / "audit.checkpoint"), old_checkpoint);
  EXPECT_EQ(chain->first.seq, 1u);

  auto records = Query(file(), {});
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->records.size(), 1u);
  const Event& first = records->records[0].record.event;
  EXPECT_EQ(first.type, EventType::kChainStarted);
  EXPECT_EQ(first.outcome, "bad_hmac");
  EXPECT_NE(first.detail.find("bad_hmac at audit.jsonl:3"), std::string::npos) << first.detail;
  EXPECT_NE(first.detail.find("the old head, its last line as kept: 5:" + Sha256Hex(tampered[4])),
            std::string::npos)
      << first.detail;
  EXPECT_NE(first.detail.find("kept in " + evidence().string()), std::string::npos) << first.detail;
}

TEST_F(NewChainTest, TheNewChainVerifiesAndTheAgentCanExtendIt) {
  Tamper();
  ASSERT_TRUE(StartNewChain(Options(), TestKey(), clock_).ok());
  WriteTrail(2);  // the Writer opens it as the daemon does
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.last_seq, 3u);
}

TEST_F(NewChainTest, ATrailThatVerifiesIsRefusedAndNothingMoves) {
  WriteTrail(3);
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(chain.error().message().find("nothing to recover from"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(evidence()));
  EXPECT_EQ(ReadLines(file()).size(), 3u);
}

TEST_F(NewChainTest, ATornTailAloneIsRefusedBecauseTheAgentRepairsIt) {
  WriteTrail(3);
  AppendBytes(file(), "{\"v\":1,\"seq\":4,");
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(chain.error().message().find("torn final line"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(evidence()));
}

TEST_F(NewChainTest, AnExistingEvidenceDirectoryIsRefusedAndNothingMoves) {
  const std::vector<std::string> tampered = Tamper();
  std::filesystem::create_directories(evidence());
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(ReadLines(file()), tampered);
  EXPECT_TRUE(std::filesystem::is_empty(evidence()));
}

TEST_F(NewChainTest, RotatedFilesAreKeptTooAndTheHeadIsInTheNewestNonEmptyFile) {
  WriterOptions options = TrailTest::Options();
  options.rotate_size = 1;  // every record in a file of its own
  WriteTrail(3, options);
  std::vector<std::string> lines = ReadLines(rotated(2));
  lines[0].replace(lines[0].find("succeeded"), 9, "SUCCEEDED");
  WriteLines(rotated(2), lines);
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_TRUE(chain.ok()) << chain.error().ToString();
  EXPECT_EQ(chain->old_head.seq, 3u);
  EXPECT_TRUE(std::filesystem::exists(evidence() / "audit.jsonl.000001"));
  EXPECT_TRUE(std::filesystem::exists(evidence() / "audit.jsonl.000002"));
  EXPECT_FALSE(std::filesystem::exists(rotated(1)));
}

TEST_F(NewChainTest, NoTrailIsNotFound) {
  auto chain = StartNewChain(Options(), TestKey(), clock_);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace wb::audit::testing
