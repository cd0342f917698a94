// wbcloud load's pure parts: the open loop's schedule, exact percentiles, the report, and the
// argument checks that make the command exit 2.
#include "tools/wbcloud/load.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.h"

namespace wb::cloud {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

LoadOptions Valid() {
  LoadOptions o;
  o.state_dir = "/tmp/state";
  o.user_pattern = "load%d";
  o.user_count = 10;
  o.requests = 100;
  return o;
}

TEST(LoadScheduleTest, RequestIIsDueIOverRateAfterTheStart) {
  EXPECT_EQ(ScheduledOffset(0, 100), nanoseconds(0));
  EXPECT_EQ(ScheduledOffset(1, 100), milliseconds(10));
  EXPECT_EQ(ScheduledOffset(1000, 1000), seconds(1));
  EXPECT_EQ(ScheduledOffset(3, 300), milliseconds(10));
  // A rate whose interval is not a whole number of nanoseconds does not drift: each offset is
  // computed from i, never summed.
  EXPECT_EQ(ScheduledOffset(3, 3), seconds(1));
  EXPECT_EQ(ScheduledOffset(9'000'000, 3), seconds(3'000'000));
  EXPECT_EQ(ScheduledOffset(1, 3), nanoseconds(333'333'333));
}

TEST(LoadPercentileTest, SummarizeSortsAllSamples) {
  std::vector<double> samples;
  for (int i = 200; i >= 1; --i) samples.push_back(i * 0.5);  // 100 .. 0.5, descending
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 200u);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50.0);
  EXPECT_DOUBLE_EQ(s.p90_ms, 90.0);
  EXPECT_DOUBLE_EQ(s.p99_ms, 99.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 100.0);
  EXPECT_EQ(Summarize({}).count, 0u);
}

TEST(LoadReportTest, EveryOutcomeOtherThanSucceededIsCountedAndFailsTheRun) {
  LoadReport r;
  r.mode = "closed";
  r.requests = 4;
  r.latencies_ms = {1, 2, 3};
  r.seconds = 0.5;
  r.outcomes = {{"succeeded", 2}, {"user_not_found", 1}, {"no_result", 1}};
  EXPECT_FALSE(r.AllSucceeded());
  const auto j = r.ToJson();
  EXPECT_EQ(j["outcomes"]["user_not_found"], 1);
  EXPECT_EQ(j["outcomes"]["no_result"], 1);
  EXPECT_EQ(j["answered"], 3);
  EXPECT_DOUBLE_EQ(j["per_second"].get<double>(), 6.0);
  EXPECT_FALSE(j.contains("keeps_up"));  // a closed loop has no offered rate
  const std::string text = r.Text();
  EXPECT_NE(text.find("user_not_found=1"), std::string::npos) << text;
  EXPECT_NE(text.find("no_result=1"), std::string::npos) << text;

  r.outcomes = {{"succeeded", 4}};
  EXPECT_TRUE(r.AllSucceeded());
  r.outcomes = {{"succeeded", 3}};  // one never counted at all
  EXPECT_FALSE(r.AllSucceeded());
}

TEST(LoadReportTest, OpenLoopKeepsUpOnlyNearTheOfferedRate) {
  LoadReport r;
  r.mode = "open";
  r.offered_per_second = 100;
  r.requests = 100;
  r.latencies_ms.assign(100, 1.0);
  r.send_lag_ms = {0, 0.1, 30};
  r.seconds = 1.0;
  auto j = r.ToJson();
  EXPECT_TRUE(j["keeps_up"].get<bool>());
  EXPECT_DOUBLE_EQ(j["final_send_lag_ms"].get<double>(), 30);
  EXPECT_DOUBLE_EQ(j["send_lag_ms"]["max"].get<double>(), 30);
  r.seconds = 2.0;  // 50/s answered against 100/s offered: a backlog grew
  j = r.ToJson();
  EXPECT_FALSE(j["keeps_up"].get<bool>());
}

TEST(LoadOptionsTest, AValidClosedAndOpenLoop) {
  EXPECT_TRUE(CheckLoadOptions(Valid()).ok());
  EXPECT_EQ(RequestCount(Valid()), 100u);
  LoadOptions open = Valid();
  open.requests = 0;
  open.rate = 250;
  open.duration_seconds = 2;
  EXPECT_TRUE(CheckLoadOptions(open).ok()) << CheckLoadOptions(open).ToString();
  EXPECT_EQ(RequestCount(open), 500u);
}

// Each argument error names its option.
void ExpectRefused(const LoadOptions& o, const std::string& names) {
  const Status s = CheckLoadOptions(o);
  EXPECT_FALSE(s.ok()) << names;
  EXPECT_NE(s.message().find(names), std::string::npos) << s.message();
}

TEST(LoadOptionsTest, ArgumentErrorsNameTheOption) {
  LoadOptions o = Valid();
  o.user_pattern.clear();
  o.user_count = 0;
  ExpectRefused(o, "--users-file");  // no users at all
  o = Valid();
  o.users_file = "/tmp/users";
  ExpectRefused(o, "--users-file");  // both
  o = Valid();
  o.user_pattern = "load";
  ExpectRefused(o, "--user-pattern");
  o.user_pattern = "load%d-%s";
  ExpectRefused(o, "--user-pattern");
  o = Valid();
  o.user_count = 0;
  ExpectRefused(o, "--user-count");
  o = Valid();
  o.kind = "cn";
  ExpectRefused(o, "--kind");
  o = Valid();
  o.rate = -1;
  ExpectRefused(o, "--rate");
  o = Valid();
  o.requests = 0;
  ExpectRefused(o, "--requests");  // a closed loop needs a count
  o = Valid();
  o.duration_seconds = 5;
  ExpectRefused(o, "--duration");  // a duration without a rate
  o = Valid();
  o.rate = 100;
  o.duration_seconds = 5;
  ExpectRefused(o, "--requests or --duration");  // both
  o.requests = 0;
  o.duration_seconds = 0.001;
  ExpectRefused(o, "less than one request");
  o = Valid();
  o.concurrency = -2;
  ExpectRefused(o, "--concurrency");
  o = Valid();
  o.requests = 20'000'000;
  ExpectRefused(o, "at most");
}

TEST(LoadUsersTest, APatternExpandsToZeroToCountMinusOne) {
  LoadOptions o = Valid();
  o.user_pattern = "u%d@example.test";
  o.user_count = 3;
  auto users = LoadUsers(o);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(*users,
            (std::vector<std::string>{"u0@example.test", "u1@example.test", "u2@example.test"}));
}

TEST(LoadUsersTest, AFileSkipsBlankLinesAndComments) {
  testing::TempDir dir;
  const auto file = dir.path() / "users";
  std::ofstream(file) << "# the bench's users\nalice\n\nbob\r\n  \ncarol";
  LoadOptions o = Valid();
  o.user_pattern.clear();
  o.user_count = 0;
  o.users_file = file;
  auto users = LoadUsers(o);
  ASSERT_TRUE(users.ok()) << users.error().ToString();
  EXPECT_EQ(*users, (std::vector<std::string>{"alice", "bob", "carol"}));
}

TEST(LoadUsersTest, AnEmptyOrMissingFileIsAnError) {
  testing::TempDir dir;
  LoadOptions o = Valid();
  o.user_pattern.clear();
  o.user_count = 0;
  o.users_file = dir.path() / "missing";
  EXPECT_FALSE(LoadUsers(o).ok());
  std::ofstream(dir.path() / "empty") << "# nobody\n\n";
  o.users_file = dir.path() / "empty";
  auto users = LoadUsers(o);
  ASSERT_FALSE(users.ok());
  EXPECT_NE(users.error().message().find("names no user"), std::string::npos);
}

}  // namespace
}  // namespace wb::cloud
