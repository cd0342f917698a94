// The checkpoint's two slots (audit/internal/checkpoint.h): written in place, in turn, each
// sealed line within one disk sector, both verified on every read.
#include "audit/internal/checkpoint.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <thread>

#include "audit/internal/seal.h"
#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

using internal::kCheckpointLineMax;
using internal::kCheckpointSlotBytes;

class CheckpointTest : public TrailTest {
 protected:
  std::string Text() const { return wb::testing::ReadFileOrEmpty(checkpoint()); }
  // The sealed line of slot `index` (0 or 1), without its padding.
  std::string SlotLine(std::size_t index) const {
    const std::string slot = Text().substr(index * kCheckpointSlotBytes, kCheckpointSlotBytes);
    return slot.substr(0, slot.find('\n'));
  }
  // The seq the line of slot `index` names (the line is read as text, not verified).
  std::uint64_t SlotSeq(std::size_t index) const {
    const std::string line = SlotLine(index);
    const std::size_t at = line.find("\"seq\":") + 6;
    return std::stoull(line.substr(at, line.find(',', at) - at));
  }
  // Slot `index`'s checkpoint as an earlier build sealed it: one line, "v":1, no "slot".
  std::string OneLineOfAnEarlierBuild(std::size_t index) const {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(SlotLine(index));
    nlohmann::ordered_json old = nlohmann::ordered_json::object();
    old["v"] = 1;
    for (const char* key : {"seq", "hash", "file", "time"}) old[key] = j[key];
    return internal::Seal(old.dump(), TestKey());
  }
  void ReplaceInSlot(std::size_t index, const std::string& from, const std::string& to) {
    std::string text = Text();
    const std::size_t at = text.find(from, index * kCheckpointSlotBytes);
    ASSERT_LT(at, (index + 1) * kCheckpointSlotBytes) << from;
    text.replace(at, from.size(), to);
    ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  }
};

TEST_F(CheckpointTest, TwoPaddedSlotsEachWithALineThatFitsOneSector) {
  WriteTrail(3);
  const std::string text = Text();
  ASSERT_EQ(text.size(), 2 * kCheckpointSlotBytes);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string slot = text.substr(i * kCheckpointSlotBytes, kCheckpointSlotBytes);
    const std::size_t nl = slot.find('\n');
    EXPECT_LE(nl, kCheckpointLineMax) << "slot " << i;
    EXPECT_EQ(slot.find_first_not_of(' ', nl + 1), kCheckpointSlotBytes - 1) << "slot " << i;
    EXPECT_EQ(slot.back(), '\n');
  }
  auto read = internal::ReadCheckpoint(checkpoint(), TestKey());
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->seq, 3u);
}

// Each sync writes the slot that does not hold the newest checkpoint, so the other slot always
// names a head that is already durable: a crash in the middle of a write loses nothing.
TEST_F(CheckpointTest, SyncsAlternateSlotsSoTheOtherAlwaysNamesTheHeadBefore) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(SlotSeq(0), 0u);
  EXPECT_EQ(SlotSeq(1), 0u);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(writer->Append(SampleEvent(i), Durability::kDurable).ok());
    const std::uint64_t newest = std::max(SlotSeq(0), SlotSeq(1));
    const std::uint64_t other = std::min(SlotSeq(0), SlotSeq(1));
    EXPECT_EQ(newest, static_cast<std::uint64_t>(i));
    EXPECT_EQ(other, static_cast<std::uint64_t>(i - 1));
  }
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
}

// A verifier demands both slots: a slot cannot normally be torn by a crash (its line is one
// sector), so one that fails was edited, whichever it is.
TEST_F(CheckpointTest, AnEditInEitherSlotIsReportedByVerify) {
  for (std::size_t slot = 0; slot < 2; ++slot) {
    std::filesystem::remove_all(dir() / "audit");
    std::filesystem::remove(checkpoint());
    WriteTrail(6);
    const std::string seq = "\"seq\":" + std::to_string(SlotSeq(slot));
    ReplaceInSlot(slot, seq, "\"seq\":1");
    const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
    EXPECT_NE(f.message.find("slot " + std::to_string(slot + 1) + ": HMAC mismatch"),
              std::string::npos)
        << f.message;
  }
}

// The older slot always holds a valid line; copied over the newer one, it would roll the head
// back a sync with no saved copy needed. Each line names its slot under the HMAC.
TEST_F(CheckpointTest, TheOlderSlotCopiedOverTheNewerIsDetected) {
  WriteTrail(6);
  const std::size_t newer = SlotSeq(0) > SlotSeq(1) ? 0 : 1;
  std::string text = Text();
  text.replace(newer * kCheckpointSlotBytes, kCheckpointSlotBytes,
               text.substr((1 - newer) * kCheckpointSlotBytes, kCheckpointSlotBytes));
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
  EXPECT_NE(f.message.find("sealed for another place"), std::string::npos) << f.message;
}

// Cut down to one slot's line, the file would pass for an earlier build's one-line checkpoint.
TEST_F(CheckpointTest, AFileCutDownToOneSlotsLineIsRefused) {
  WriteTrail(6);
  const std::size_t older = SlotSeq(0) < SlotSeq(1) ? 0 : 1;
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), SlotLine(older) + "\n", 0600).ok());
  const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
  EXPECT_NE(f.message.find("sealed for another place"), std::string::npos) << f.message;
  auto writer = Writer::Open(Options(), TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
}

// At start the Writer goes on from the slot that verifies (a disk may tear a sector in a power
// loss after all), never silently: it records what it found, and the trail verifies again.
TEST_F(CheckpointTest, AtStartOneFailedSlotIsRecordedAndTheOtherIsUsed) {
  WriteTrail(6);
  const std::size_t newer = SlotSeq(0) > SlotSeq(1) ? 0 : 1;
  const std::uint64_t older_seq = SlotSeq(1 - newer);
  ReplaceInSlot(newer, "\"seq\":6", "\"seq\":9");
  {
    auto writer = Open();
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->checkpoint_recovery().has_value());
    const CheckpointRecovery& r = *writer->checkpoint_recovery();
    EXPECT_NE(r.problem.find("HMAC mismatch"), std::string::npos) << r.problem;
    EXPECT_EQ(r.from_seq, older_seq);
    EXPECT_EQ(r.trail_seq, 6u);
    EXPECT_EQ(r.seq, 7u);
    ASSERT_TRUE(writer->Close().ok());
  }
  const std::vector<std::string> lines = ReadLines(file());
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(lines[6].find("\"outcome\":\"checkpoint_slot_failed\""), std::string::npos) << lines[6];
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.checkpoint_seq, 7u);
  // The trail verifies, but the start is listed: it may also have been an edit of the newer
  // slot that undid the last sync (truncating the trail back to the older slot's head), which
  // the trail alone cannot tell from a torn sector.
  ASSERT_EQ(report.checkpoint_recoveries.size(), 1u);
  EXPECT_EQ(report.checkpoint_recoveries[0].seq, 7u);
  EXPECT_NE(report.checkpoint_recoveries[0].detail.find("went on from the other slot"),
            std::string::npos)
      << report.checkpoint_recoveries[0].detail;
}

// The failed slot is the evidence: it stays as found until the audit_recovered record that
// tells of it is durable. A start that cannot make that record leaves the file as it was, and
// the next start finds, and records, the same failure (before, the start rewrote both slots
// first, and a failed start left no trace of it).
TEST_F(CheckpointTest, AFailedSlotStaysAsFoundUntilItsRecoveryRecordIsDurable) {
  WriteTrail(6);
  const std::size_t newer = SlotSeq(0) > SlotSeq(1) ? 0 : 1;
  ReplaceInSlot(newer, "\"seq\":6", "\"seq\":9");
  const std::string tampered = Text();
  WriterOptions failing = Options();
  failing.inject_fault = [](FileCall call) { return call == FileCall::kSync ? EIO : 0; };
  ASSERT_FALSE(Writer::Open(failing, TestKey(), clock_).ok());
  EXPECT_EQ(Text(), tampered) << "the failed slot was overwritten before its record was durable";
  {
    auto writer = Open();
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->checkpoint_recovery().has_value());
    ASSERT_TRUE(writer->Close().ok());
  }
  std::size_t recorded = 0;
  for (const std::string& line : ReadLines(file())) {
    recorded += line.find("\"outcome\":\"checkpoint_slot_failed\"") != std::string::npos ? 1 : 0;
  }
  // The failed start's record reached the file, not the disk; the next start records the
  // failure again, from the slot it found as it was.
  EXPECT_EQ(recorded, 2u);
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
}

// Both at once, a torn line and a failed slot: neither record is made durable alone, so the
// first checkpoint write (into the failed slot) comes only after both are.
TEST_F(CheckpointTest, ATornLineAndAFailedSlotAreBothDurableBeforeTheSlotIsOverwritten) {
  WriteTrail(6);
  const std::size_t newer = SlotSeq(0) > SlotSeq(1) ? 0 : 1;
  ReplaceInSlot(newer, "\"seq\":6", "\"seq\":9");
  AppendBytes(file(), "{\"v\":1,\"seq\":7");
  const std::string tampered = Text();
  std::vector<FileCall> calls;
  WriterOptions watched = Options();
  watched.inject_fault = [&](FileCall call) {
    calls.push_back(call);
    return 0;
  };
  {
    auto writer = Open(watched);
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->Close().ok());
  }
  const auto first_checkpoint = std::find(calls.begin(), calls.end(), FileCall::kCheckpoint);
  ASSERT_NE(first_checkpoint, calls.end());
  EXPECT_EQ(std::count(calls.begin(), first_checkpoint, FileCall::kWrite), 2)
      << "the slot was overwritten before both recovery records were written and synced";
  EXPECT_EQ(std::count(calls.begin(), first_checkpoint, FileCall::kSync), 1);
  const std::vector<std::string> lines = ReadLines(file());
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_NE(lines[6].find("torn_line_removed"), std::string::npos) << lines[6];
  EXPECT_NE(lines[7].find("checkpoint_slot_failed"), std::string::npos) << lines[7];
  EXPECT_NE(Text(), tampered);
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
}

// A torn last line is removed only from a trail the checkpoint accepts: a trail refused at the
// start (here, records removed behind the checkpoint's back) keeps every byte for the auditor.
TEST_F(CheckpointTest, ATornLineOfATrailTheCheckpointRefusesIsKept) {
  WriteTrail(6);
  std::vector<std::string> lines = ReadLines(file());
  lines.pop_back();  // record 6, which the checkpoint names, removed
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  text += "{\"v\":1,\"seq\":6";  // and a torn line after it
  ASSERT_TRUE(wb::testing::WriteFile(file(), text, 0640).ok());
  const std::string before = wb::testing::ReadFileOrEmpty(file());
  ASSERT_FALSE(Writer::Open(Options(), TestKey(), clock_).ok());
  EXPECT_EQ(wb::testing::ReadFileOrEmpty(file()), before);
}

TEST_F(CheckpointTest, NoSlotThatVerifiesRefusesTheStart) {
  WriteTrail(6);
  ReplaceInSlot(0, "\"seq\":", "\"seq\":1");
  ReplaceInSlot(1, "\"seq\":", "\"seq\":1");
  ExpectFinding(Problem::kCheckpointInvalid);
  auto writer = Writer::Open(Options(), TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
}

TEST_F(CheckpointTest, PaddingThatIsNotSpacesIsMalformed) {
  WriteTrail(2);
  std::string text = Text();
  text[kCheckpointSlotBytes + kCheckpointLineMax + 10] = 'x';
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
  EXPECT_NE(f.message.find("slot 2: malformed"), std::string::npos) << f.message;
}

// Each way a slot can be malformed, in either slot: the verifier names the slot.
TEST_F(CheckpointTest, EveryMalformedSlotIsReportedWithItsNumber) {
  struct Damage {
    const char* what;
    std::size_t at;  // within the slot
    char byte;
  };
  const Damage damages[] = {
      {"a newline in the padding", kCheckpointLineMax + 100, '\n'},
      {"no newline as the slot's last byte", kCheckpointSlotBytes - 1, ' '},
      {"padding that is not spaces", kCheckpointSlotBytes - 2, '\t'},
  };
  for (std::size_t slot = 0; slot < 2; ++slot) {
    for (const Damage& d : damages) {
      std::filesystem::remove_all(dir() / "audit");
      std::filesystem::remove(checkpoint());
      WriteTrail(2);
      std::string text = Text();
      text[slot * kCheckpointSlotBytes + d.at] = d.byte;
      ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
      const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
      EXPECT_NE(f.message.find("slot " + std::to_string(slot + 1) + ": malformed"),
                std::string::npos)
          << d.what << ": " << f.message;
    }
  }
}

TEST_F(CheckpointTest, ALineLongerThanOneSectorIsMalformed) {
  WriteTrail(2);
  std::string text = Text();
  const std::size_t nl = text.find('\n');
  text[nl] = ' ';  // the line now runs on into the padding, past the sector
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), text, 0600).ok());
  const Finding f = ExpectFinding(Problem::kCheckpointInvalid);
  EXPECT_NE(f.message.find("slot 1: malformed"), std::string::npos) << f.message;
}

// CheckpointFile writes in place into a file CreateCheckpoint made; anything else is refused
// rather than written into.
TEST_F(CheckpointTest, TheWriterRefusesToWriteInPlaceIntoAFileOfAnotherSize) {
  std::filesystem::create_directories(checkpoint().parent_path());
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), "{}\n", 0600).ok());
  auto file = internal::CheckpointFile::Open(checkpoint(), TestKey());
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), Code::kCorruption);
}

// An earlier build wrote one sealed line ("v":1, no slot). It is read as it is, and the Writer
// rewrites it in two slots when it opens the trail.
TEST_F(CheckpointTest, AnEarlierBuildsOneLineCheckpointIsReadAndRewrittenInTwoSlots) {
  WriteTrail(4);
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), OneLineOfAnEarlierBuild(0) + "\n", 0600).ok());
  VerifyReport before = Verify();
  EXPECT_TRUE(before.ok()) << before.finding->message;
  EXPECT_EQ(before.checkpoint_seq, 4u);

  WriteTrail(1);
  EXPECT_EQ(Text().size(), 2 * kCheckpointSlotBytes);
  VerifyReport after = Verify();
  EXPECT_TRUE(after.ok()) << after.finding->message;
  EXPECT_EQ(after.checkpoint_seq, 5u);
}

TEST_F(CheckpointTest, AnEditedOneLineCheckpointIsDetected) {
  WriteTrail(4);
  std::string line = OneLineOfAnEarlierBuild(0);
  line.replace(line.find("\"seq\":4"), 7, "\"seq\":2");
  ASSERT_TRUE(wb::testing::WriteFile(checkpoint(), line + "\n", 0600).ok());
  ExpectFinding(Problem::kCheckpointInvalid);
}

// A reader (`wbagent audit verify`, `doctor`) may run while the agent writes a slot in place;
// Linux does not order a buffered read against that write, so a read can see the slot half
// written. The reader reads again: it never reports a valid checkpoint as edited, and never
// sees the head go back.
TEST_F(CheckpointTest, ReadsDuringSyncsNeverFailAndNeverGoBack) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  std::atomic<bool> done{false};
  std::thread appender([&] {
    for (int i = 1; i <= 400; ++i) {
      if (!writer->Append(SampleEvent(i), Durability::kDurable).ok()) break;
    }
    done = true;
  });
  std::uint64_t last = 0;
  int reads = 0;
  while (!done) {
    auto read = internal::ReadCheckpoint(checkpoint(), TestKey());
    EXPECT_TRUE(read.ok() && read->has_value()) << (read.ok() ? "none" : read.error().ToString());
    if (!read.ok() || !read->has_value()) break;  // and join the appender below
    EXPECT_GE((*read)->seq, last);
    last = (*read)->seq;
    ++reads;
  }
  appender.join();
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_GT(reads, 0);
  EXPECT_EQ(Verify().checkpoint_seq, 400u);
}

// A trail file name whose checkpoint line could not fit one sector is refused when the trail
// is opened, not at a sync after a rotation lengthened it. 133 quotes (JSON doubles each) fit
// with the active file's name and a small seq, not with a rotated name and the largest seq.
TEST_F(CheckpointTest, ATrailFileNameTooLongForOneSectorIsRefusedAtOpen) {
  WriterOptions options = Options();
  options.file = dir() / "audit" / std::string(133, '"');
  auto writer = Writer::Open(options, TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kInvalidArgument);
  EXPECT_NE(writer.error().message().find("shorten the trail's file name"), std::string::npos)
      << writer.error().message();
}

}  // namespace
}  // namespace wb::audit::testing
