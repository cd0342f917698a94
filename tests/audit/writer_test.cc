#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/audit/trail_fixture.h"
#include "tests/support/tmpfs.h"

namespace wb::audit::testing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

class WriterTest : public TrailTest {};

mode_t ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(WriterTest, AppendsNumberedLinkedRecords) {
  auto writer = Open();
  for (std::uint64_t i = 1; i <= 5; ++i) {
    auto appended = writer->Append(SampleEvent(static_cast<int>(i)));
    ASSERT_TRUE(appended.ok()) << appended.error().ToString();
    EXPECT_EQ(appended->seq, i);
    EXPECT_EQ(appended->time, clock_.Now());
  }
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_EQ(ReadLines(file()).size(), 5u);
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 5u);
  EXPECT_EQ(report.checkpoint_seq, 5u);
}

TEST_F(WriterTest, NewTrailGetsPrivateFilesAndDirectories) {
  auto writer = Open();
  ASSERT_TRUE(writer->Append(SampleEvent(1)).ok());
  EXPECT_EQ(ModeOf(file().parent_path()), 0750u);
  EXPECT_EQ(ModeOf(file()), 0640u);
  EXPECT_EQ(ModeOf(checkpoint()), 0600u);
}

TEST_F(WriterTest, ReopeningContinuesTheChain) {
  WriteTrail(3);
  auto writer = Open();
  auto appended = writer->Append(SampleEvent(4));
  ASSERT_TRUE(appended.ok());
  EXPECT_EQ(appended->seq, 4u);
  EXPECT_FALSE(writer->recovery().has_value());
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
  EXPECT_EQ(Verify().records, 4u);
}

TEST_F(WriterTest, DurableAppendMovesTheCheckpoint) {
  auto writer = Open();
  ASSERT_TRUE(writer->Append(SampleEvent(1), Durability::kDurable).ok());
  EXPECT_EQ(Verify().checkpoint_seq, 1u);
}

TEST_F(WriterTest, BufferedAppendIsCheckpointedBySync) {
  auto writer = Open();
  ASSERT_TRUE(writer->Append(SampleEvent(1), Durability::kDurable).ok());
  ASSERT_TRUE(writer->Append(SampleEvent(2), Durability::kBuffered).ok());
  // In the file at once (a crash of the process loses nothing), checkpointed later.
  EXPECT_EQ(ReadLines(file()).size(), 2u);
  EXPECT_EQ(Verify().checkpoint_seq, 1u);
  EXPECT_TRUE(Verify().ok());
  ASSERT_TRUE(writer->Sync().ok());
  EXPECT_EQ(Verify().checkpoint_seq, 2u);
}

TEST_F(WriterTest, RotatesBySizeAndLinksTheFiles) {
  WriterOptions options = Options();
  options.rotate_size = 2000;  // two records per file
  WriteTrail(20, options);
  EXPECT_TRUE(std::filesystem::exists(rotated(1)));
  EXPECT_TRUE(std::filesystem::exists(rotated(5)));
  for (const auto& entry : std::filesystem::directory_iterator(file().parent_path())) {
    EXPECT_LE(std::filesystem::file_size(entry.path()), 2000u) << entry.path();
  }
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 20u);
  EXPECT_GT(report.files, 5u);
}

TEST_F(WriterTest, RotatesByAge) {
  WriterOptions options = Options();
  options.rotate_age = hours(24);
  auto writer = Open(options);
  ASSERT_TRUE(writer->Append(SampleEvent(1)).ok());
  clock_.Advance(hours(23));
  ASSERT_TRUE(writer->Append(SampleEvent(2)).ok());
  EXPECT_FALSE(std::filesystem::exists(rotated(1)));
  clock_.Advance(hours(2));
  ASSERT_TRUE(writer->Append(SampleEvent(3)).ok());
  EXPECT_EQ(ReadLines(rotated(1)).size(), 2u);
  EXPECT_EQ(ReadLines(file()).size(), 1u);
  ASSERT_TRUE(writer->Close().ok());
  // The age survives a restart: it is the first record's time.
  writer = Open(options);
  clock_.Advance(hours(25));
  ASSERT_TRUE(writer->Append(SampleEvent(4)).ok());
  EXPECT_TRUE(std::filesystem::exists(rotated(2)));
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(WriterTest, CrashBetweenRotationRenameAndNewFileIsHarmless) {
  WriteTrail(3);
  std::filesystem::rename(file(), rotated(1));  // as if the agent died right after the rename
  auto writer = Open();
  auto appended = writer->Append(SampleEvent(4));
  ASSERT_TRUE(appended.ok());
  EXPECT_EQ(appended->seq, 4u);
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
}

void Hammer(Writer& writer, int thread, int count, std::vector<std::uint64_t>& seqs) {
  for (int i = 0; i < count; ++i) {
    const Durability d = i % 3 == 0 ? Durability::kDurable : Durability::kBuffered;
    auto appended = writer.Append(SampleEvent(thread * 1000 + i), d);
    ASSERT_TRUE(appended.ok()) << appended.error().ToString();
    seqs.push_back(appended->seq);
  }
}

void ConcurrentWriters(TrailTest& test, std::unique_ptr<Writer> writer) {
  constexpr int kThreads = 8;
  constexpr int kEach = 150;
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { Hammer(*writer, t, kEach, seqs[t]); });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(writer->Close().ok());
  std::vector<std::uint64_t> all;
  for (const auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));  // each thread sees its own order
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i + 1);
  (void)test;
}

TEST_F(WriterTest, ConcurrentWritersKeepOneValidChain) {
  ConcurrentWriters(*this, Open());
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 8u * 150u);
  EXPECT_EQ(report.checkpoint_seq, 8u * 150u);
}

TEST_F(WriterTest, ConcurrentWritersKeepOneChainAcrossRotations) {
  WriterOptions options = Options();
  options.rotate_size = 20'000;
  ConcurrentWriters(*this, Open(options));
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 8u * 150u);
  EXPECT_GT(report.files, 10u);
}

class RecordingMirror final : public Mirror {
 public:
  void Publish(const Record& record, std::string_view line) override {
    std::lock_guard lock(mu);
    seqs.push_back(record.seq);
    lines.emplace_back(line);
  }
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> lines;
};

TEST_F(WriterTest, MirrorGetsEveryRecordInOrder) {
  RecordingMirror mirror;
  WriterOptions options = Options();
  options.mirror = &mirror;
  auto writer = Open(options);
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(writer->Append(SampleEvent(i)).ok());
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_EQ(mirror.seqs, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(mirror.lines, ReadLines(file()));
}

TEST_F(WriterTest, JournalMirrorAcceptsRecords) {
  // Without a journal (a container) sd_journal_sendv fails quietly; the append must not.
  auto journal = MakeJournalMirror();
  WriterOptions options = Options();
  options.mirror = journal.get();
  auto writer = Open(options);
  EXPECT_TRUE(writer->Append(SampleEvent(1)).ok());
}

TEST_F(WriterTest, TornFinalLineIsRemovedAndRecorded) {
  WriteTrail(3);
  const std::string torn = ReadLines(file())[2].substr(0, 57);
  AppendBytes(file(), torn);
  auto writer = Open();
  ASSERT_TRUE(writer->recovery().has_value());
  EXPECT_EQ(writer->recovery()->file, file());
  EXPECT_EQ(writer->recovery()->line, 4u);
  EXPECT_EQ(writer->recovery()->bytes, 57u);
  EXPECT_EQ(writer->recovery()->seq, 4u);
  ASSERT_TRUE(writer->Append(SampleEvent(5)).ok());
  ASSERT_TRUE(writer->Close().ok());
  const std::vector<std::string> lines = ReadLines(file());
  ASSERT_EQ(lines.size(), 5u);
  auto recovered = ParseRecord(lines[3]);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->event.type, EventType::kAuditRecovered);
  EXPECT_NE(recovered->event.detail.find("audit.jsonl:4 (57 bytes"), std::string::npos)
      << recovered->event.detail;
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.finding->message;
  EXPECT_EQ(report.records, 5u);
}

TEST_F(WriterTest, TornOnlyLineOfANewTrailIsRemoved) {
  {
    auto writer = Open();  // creates the trail and its seq-0 checkpoint
  }
  AppendBytes(file(), "{\"v\":1,\"seq\":1,\"ti");
  auto writer = Open();
  ASSERT_TRUE(writer->recovery().has_value());
  EXPECT_EQ(writer->recovery()->line, 1u);
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(WriterTest, RefusesATrailWhoseLastRecordWasEdited) {
  WriteTrail(3);
  std::vector<std::string> lines = ReadLines(file());
  lines[2].replace(lines[2].find("succeeded"), 9, "failed___");
  WriteLines(file(), lines);
  auto writer = Writer::Open(Options(), TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
  EXPECT_NE(writer.error().message().find("HMAC"), std::string::npos);
}

TEST_F(WriterTest, RefusesAnotherKey) {
  WriteTrail(2);
  auto writer = Writer::Open(Options(), TestKey('x'), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
}

TEST_F(WriterTest, RefusesATruncatedTrail) {
  WriteTrail(5);
  std::vector<std::string> lines = ReadLines(file());
  lines.resize(3);
  WriteLines(file(), lines);
  auto writer = Writer::Open(Options(), TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
  EXPECT_NE(writer.error().message().find("records were removed"), std::string::npos);
}

TEST_F(WriterTest, RefusesATrailWhoseCheckpointWasDeleted) {
  WriteTrail(2);
  std::filesystem::remove(checkpoint());
  auto writer = Writer::Open(Options(), TestKey(), clock_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().code(), Code::kCorruption);
}

TEST_F(WriterTest, AppendAfterCloseFails) {
  auto writer = Open();
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(writer->Close().ok());
  auto appended = writer->Append(SampleEvent(1));
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code(), Code::kFailedPrecondition);
}

TEST_F(WriterTest, AFailedCheckpointWriteBreaksTheWriterForGood) {
  std::atomic<bool> failing{false};
  WriterOptions options = Options();
  options.inject_fault = [&](FileCall call) {
    return call == FileCall::kCheckpoint && failing.exchange(false) ? EIO : 0;
  };
  auto writer = Open(options);
  ASSERT_TRUE(writer->Append(SampleEvent(1)).ok());
  failing = true;  // the next checkpoint write only
  auto appended = writer->Append(SampleEvent(2), Durability::kDurable);
  ASSERT_FALSE(appended.ok());
  // Broken for good: what reached the disk is unknown, so nothing more is accepted, even
  // though the disk would take it now.
  EXPECT_FALSE(writer->Append(SampleEvent(3), Durability::kBuffered).ok());
  EXPECT_FALSE(writer->Sync().ok());
}

// A full disk under the trail: the append that does not fit fails and breaks the Writer (what
// reached the disk is unknown), every record acknowledged before it verifies, and once space is
// free again a new Writer recovers the trail (removing a torn line, if the last write was cut)
// and goes on with the same chain.
TEST_F(WriterTest, AFullDiskBreaksTheWriterAndLosesNothingAcknowledged) {
  auto tmpfs = wb::testing::SmallTmpfs::Mount(dir() / "small", "256k");
  if (!tmpfs.ok()) {
    if (wb::testing::TmpfsIsRequired()) FAIL() << tmpfs.error().ToString();
    GTEST_SKIP() << tmpfs.error().ToString();
  }
  const std::filesystem::path mnt = (*tmpfs)->path();
  { std::ofstream(mnt / "ballast") << std::string(64 * 1024, 'b'); }
  WriterOptions options = Options();
  options.file = mnt / "audit" / "audit.jsonl";
  options.checkpoint_file = mnt / "audit.checkpoint";
  auto writer = Open(options);
  ASSERT_NE(writer, nullptr);
  std::uint64_t acknowledged = 0;
  Status failure;
  for (int i = 1; i < 100000 && failure.ok(); ++i) {
    auto appended = writer->Append(SampleEvent(i), Durability::kDurable);
    if (appended.ok()) {
      acknowledged = appended->seq;
    } else {
      failure = appended.error();
    }
  }
  ASSERT_FALSE(failure.ok()) << "the disk never filled";
  EXPECT_GT(acknowledged, 10u);
  EXPECT_FALSE(writer->Append(SampleEvent(0), Durability::kBuffered).ok()) << "still broken";
  writer.reset();

  auto verified = audit::Verify({options.file, options.checkpoint_file}, TestKey());
  ASSERT_TRUE(verified.ok()) << verified.error().ToString();
  EXPECT_GE(verified->records, acknowledged);
  if (verified->finding) {
    EXPECT_EQ(verified->finding->problem, Problem::kTornTail) << verified->finding->message;
  }

  std::filesystem::remove(mnt / "ballast");
  auto reopened = Open(options);
  ASSERT_NE(reopened, nullptr);
  auto next = reopened->Append(SampleEvent(1), Durability::kDurable);
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  EXPECT_GT(next->seq, acknowledged);
  ASSERT_TRUE(reopened->Close().ok());
  auto after = audit::Verify({options.file, options.checkpoint_file}, TestKey());
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->ok()) << after->finding->message;
}

// EIO on each file system call of the trail that durable appends reach (writes, syncs, the
// rotation's rename and directory fsync, the checkpoint's write), failed in turn:
// the failing append reports an error and breaks the Writer, no later one succeeds, every
// record acknowledged before verifies, and a new Writer opens the trail and goes on.
class WriterFaultTest : public WriterTest, public ::testing::WithParamInterface<FileCall> {};

TEST_P(WriterFaultTest, AnIoErrorIsNeverAcknowledgedAndLosesNothing) {
  const FileCall what = GetParam();
  int reached = 0;
  for (int n = 1; n < 50; ++n) {
    std::filesystem::remove_all(dir() / "audit");
    std::filesystem::remove(checkpoint());
    std::atomic<int> countdown{0};
    std::atomic<bool> fired{false};
    WriterOptions options = Options();
    options.rotate_size = 2000;  // rotations too
    options.inject_fault = [&](FileCall call) {
      if (call != what || countdown.load() <= 0 || countdown.fetch_sub(1) != 1) return 0;
      fired = true;
      return EIO;
    };
    auto writer = Open(options);
    ASSERT_NE(writer, nullptr);
    countdown = n;
    std::uint64_t acknowledged = 0;
    bool failed = false;
    std::uint64_t failures = 0;
    for (int i = 1; i <= 8; ++i) {
      auto appended = writer->Append(SampleEvent(i), Durability::kDurable);
      if (appended.ok()) {
        EXPECT_FALSE(failed) << "#" << n << ": an append succeeded after a failed one";
        acknowledged = appended->seq;
      } else {
        failed = true;
        ++failures;
      }
    }
    countdown = 0;
    // Each failed append is counted (wbagent_audit_append_failures_total).
    EXPECT_EQ(writer->AppendFailures(), failures) << "#" << n;
    if (!fired) break;
    ++reached;
    EXPECT_TRUE(failed) << "#" << n << ": the I/O error was not reported";
    writer.reset();
    auto verified = audit::Verify({file(), checkpoint()}, TestKey());
    ASSERT_TRUE(verified.ok()) << verified.error().ToString();
    EXPECT_GE(verified->last_seq, acknowledged) << "#" << n << ": acknowledged records are gone";
    auto reopened = Open(Options());
    ASSERT_NE(reopened, nullptr) << "#" << n;
    ASSERT_TRUE(reopened->Append(SampleEvent(9), Durability::kDurable).ok()) << "#" << n;
    ASSERT_TRUE(reopened->Close().ok());
    auto after = audit::Verify({file(), checkpoint()}, TestKey());
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->ok()) << "#" << n << ": " << after->finding->message;
  }
  EXPECT_GT(reached, 0) << "the fault was never reached";
}

std::string FaultName(const ::testing::TestParamInfo<FileCall>& call) {
  switch (call.param) {
    case FileCall::kWrite:
      return "EioOnWrite";
    case FileCall::kSync:
      return "EioOnFdatasync";
    case FileCall::kRename:
      return "EioOnRotationRename";
    case FileCall::kSyncDir:
      return "EioOnDirectoryFsync";
    case FileCall::kCheckpoint:
      return "EioOnCheckpointWrite";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(Calls, WriterFaultTest,
                         ::testing::Values(FileCall::kWrite, FileCall::kSync, FileCall::kRename,
                                           FileCall::kSyncDir, FileCall::kCheckpoint),
                         FaultName);

}  // namespace
}  // namespace wb::audit::testing
