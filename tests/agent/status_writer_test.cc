// StatusWriter: status.json follows the agent's view when it changes, not on a timer; an
// unchanged view costs no write, a burst of changes costs one, and a heartbeat keeps the file's
// age meaningful for `wbagent status`.
#include "agent/status_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "audit/audit.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using wb::testing::FakeClock;
using wb::testing::TempDir;

constexpr milliseconds kWait{5000};

// Waits (polling the file system) for `ready`: what the writer's thread does is seen only there.
template <typename Fn>
Status Eventually(Fn ready) {
  return wb::testing::WaitUntil([&] { return ready() ? Status::Ok() : Unavailable("not yet"); },
                                kWait);
}

// A view the test changes, and how often the writer looked at it.
struct View {
  std::atomic<int> value{1};
  std::atomic<int> renders{0};
  nlohmann::json Render() {
    ++renders;
    return {{"value", value.load()}};
  }
};

class StatusWriterTest : public ::testing::Test {
 protected:
  StatusWriter::Options Options(milliseconds min_gap = milliseconds(20)) {
    return {.file = file(), .min_gap = min_gap, .heartbeat = seconds(30)};
  }
  std::filesystem::path file() const { return dir_.path() / "status.json"; }
  nlohmann::json Read() const {
    std::ifstream in(file());
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  }
  int ValueOnDisk() const {
    const nlohmann::json j = Read();
    return j.is_object() && j.contains("value") ? j["value"].get<int>() : 0;
  }
  ino_t Inode() const {
    struct stat st {};
    return ::stat(file().c_str(), &st) == 0 ? st.st_ino : 0;
  }
  Status WaitForValue(int value) const {
    return Eventually([&] { return ValueOnDisk() == value; });
  }
  Status WaitForRenders(const View& view, int at_least) const {
    return Eventually([&] { return view.renders.load() >= at_least; });
  }

  TempDir dir_{"wbstatus"};
  FakeClock clock_;
  View view_;
};

TEST_F(StatusWriterTest, StartWritesTheViewWithItsTime) {
  StatusWriter writer(
      Options(), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  EXPECT_EQ(Read()["updated_at"], audit::FormatTime(clock_.Now()));
}

TEST_F(StatusWriterTest, AChangeIsWrittenWithoutWaitingForATimer) {
  StatusWriter writer(
      Options(), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  view_.value = 2;
  writer.Changed();
  EXPECT_TRUE(WaitForValue(2).ok()) << "the heartbeat is 30 s: only Changed() can explain it";
}

TEST_F(StatusWriterTest, AnUnchangedViewIsNotRewritten) {
  StatusWriter writer(
      Options(), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  const ino_t before = Inode();  // every write is a new file renamed over the old one
  const int renders = view_.renders.load();
  writer.Changed();
  ASSERT_TRUE(WaitForRenders(view_, renders + 1).ok());
  writer.Changed();
  ASSERT_TRUE(WaitForRenders(view_, renders + 2).ok());
  EXPECT_EQ(Inode(), before) << "the same view was written again";
}

TEST_F(StatusWriterTest, TheHeartbeatRewritesAnUnchangedView) {
  StatusWriter writer(
      Options(), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  const ino_t before = Inode();
  clock_.Advance(seconds(31));
  writer.Changed();  // wakes the writer now rather than at the real 30 s heartbeat
  EXPECT_TRUE(Eventually([&] { return Inode() != before; }).ok());
  EXPECT_EQ(Read()["updated_at"], audit::FormatTime(clock_.Now()));
}

TEST_F(StatusWriterTest, ABurstOfChangesCostsFewWrites) {
  StatusWriter writer(
      Options(milliseconds(300)), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  const int renders = view_.renders.load();
  for (int i = 2; i <= 200; ++i) {
    view_.value = i;
    writer.Changed();
  }
  ASSERT_TRUE(WaitForValue(200).ok());
  // One write for the first change, one after the gap for all the others; a third at most if
  // the loop above straddled a gap.
  EXPECT_LE(view_.renders.load() - renders, 3);
  // And as few wakeups: a change noted while the writer writes or waits out its gap wakes
  // nobody (under load, one change per request would otherwise cost a context switch each).
  EXPECT_LE(writer.Wakeups(), 3u);
}

TEST_F(StatusWriterTest, StopWritesTheFinalView) {
  StatusWriter writer(
      Options(), [&] { return view_.Render(); }, clock_);
  writer.Start();
  ASSERT_TRUE(WaitForValue(1).ok());
  view_.value = 7;  // no Changed(): Stop itself must write it
  writer.Stop();
  EXPECT_EQ(ValueOnDisk(), 7);
  writer.Stop();  // idempotent
}

TEST_F(StatusWriterTest, NeverStartedWritesNothingAndRendersNothing) {
  {
    StatusWriter writer(
        Options(), [&] { return view_.Render(); }, clock_);
    writer.Changed();
  }  // destroyed: what it would render may already be gone
  EXPECT_FALSE(std::filesystem::exists(file()));
  EXPECT_EQ(view_.renders.load(), 0);
}

// status.json's servers: an unhealthy one with since when and its failures in a row, which
// `wbagent status` shows; a healthy one without either.
TEST(StatusJsonTest, AnUnhealthyServerCarriesItsFailuresInARow) {
  metrics::Snapshot s;
  s.servers.push_back({.directory = "corp",
                       .url = "ldaps://dc1",
                       .healthy = false,
                       .last_error = "directory_timeout: no answer",
                       .failing_since = WallTime{},
                       .consecutive_failures = 4});
  s.servers.push_back({.directory = "corp", .url = "ldaps://dc2"});
  const nlohmann::json j = StatusJson(s);
  ASSERT_EQ(j["directory_servers"].size(), 2u);
  EXPECT_EQ(j["directory_servers"][0]["consecutive_failures"], 4);
  EXPECT_TRUE(j["directory_servers"][0].contains("failing_since"));
  EXPECT_FALSE(j["directory_servers"][1].contains("consecutive_failures"));
}

}  // namespace
}  // namespace wb::agent
