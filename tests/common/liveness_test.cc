// Liveness (common/liveness.h) with a fake clock: what counts as a stall, that each stall is
// reported once, and that a part that beats again recovers.
#include "common/liveness.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/fake_clock.h"

namespace wb {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

TEST(LivenessTest, PartsThatBeatWithinTheirDeadlineAreAlive) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  auto& channel = liveness.Add("channel", seconds(4));
  for (int i = 0; i < 10; ++i) {
    clock.Advance(seconds(3));
    worker.Beat();
    channel.Beat();
    const Liveness::Verdict v = liveness.Check();
    EXPECT_TRUE(v.alive);
    EXPECT_TRUE(v.newly_stalled.empty());
  }
}

TEST(LivenessTest, ANewPartCountsFromWhenItWasAdded) {
  FakeClock clock;
  Liveness liveness(clock);
  liveness.Add("worker 1", seconds(10));
  clock.Advance(seconds(10));
  EXPECT_TRUE(liveness.Check().alive);  // exactly the deadline is still in time
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(liveness.Check().alive);
}

TEST(LivenessTest, APartSilentLongerThanItsDeadlineStopsThePingsAndIsNamedOnce) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  auto& channel = liveness.Add("channel", seconds(30));
  clock.Advance(seconds(11));
  channel.Beat();  // the channel is fine; the worker is stuck
  Liveness::Verdict v = liveness.Check();
  EXPECT_FALSE(v.alive);
  ASSERT_EQ(v.newly_stalled.size(), 1u);
  EXPECT_EQ(v.newly_stalled[0].part, "worker 1");
  EXPECT_EQ(v.newly_stalled[0].silence, seconds(11));
  EXPECT_EQ(v.newly_stalled[0].deadline, seconds(10));

  clock.Advance(seconds(5));
  channel.Beat();
  v = liveness.Check();
  EXPECT_FALSE(v.alive) << "still stuck: no ping";
  EXPECT_TRUE(v.newly_stalled.empty()) << "reported once, not at every check";
  EXPECT_TRUE(v.recovered.empty());

  (void)worker;
}

TEST(LivenessTest, AStalledPartThatBeatsAgainRecoversAndIsReportedOnce) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  clock.Advance(seconds(20));
  EXPECT_FALSE(liveness.Check().alive);
  worker.Beat();
  Liveness::Verdict v = liveness.Check();
  EXPECT_TRUE(v.alive);
  ASSERT_EQ(v.recovered.size(), 1u);
  EXPECT_EQ(v.recovered[0], "worker 1");
  EXPECT_TRUE(liveness.Check().recovered.empty());
  // A second stall is reported again.
  clock.Advance(seconds(11));
  v = liveness.Check();
  ASSERT_EQ(v.newly_stalled.size(), 1u);
}

TEST(LivenessTest, OnePartStalledIsEnoughToStopThePings) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& a = liveness.Add("worker 1", seconds(10));
  auto& b = liveness.Add("worker 2", seconds(10));
  liveness.Add("worker 3", seconds(10));
  clock.Advance(seconds(11));
  a.Beat();
  b.Beat();
  const Liveness::Verdict v = liveness.Check();
  EXPECT_FALSE(v.alive);
  ASSERT_EQ(v.newly_stalled.size(), 1u);
  EXPECT_EQ(v.newly_stalled[0].part, "worker 3");
}

TEST(LivenessTest, NoPartsMeansAlive) {
  FakeClock clock;
  Liveness liveness(clock);
  EXPECT_TRUE(liveness.Check().alive);
}

TEST(LivenessTest, AnIdlePartIsNeverStalledHoweverLongItWaits) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  worker.Idle();
  EXPECT_TRUE(worker.idle());
  clock.Advance(std::chrono::hours(24));
  EXPECT_EQ(worker.Silence(), milliseconds(0));
  const Liveness::Verdict v = liveness.Check();
  EXPECT_TRUE(v.alive);
  EXPECT_TRUE(v.newly_stalled.empty());
}

TEST(LivenessTest, ABeatEndsIdlenessAndTheDeadlineCountsAgainFromIt) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  worker.Idle();
  clock.Advance(seconds(100));
  worker.Beat();  // work arrived: the part is busy from now
  EXPECT_FALSE(worker.idle());
  clock.Advance(seconds(10));
  EXPECT_TRUE(liveness.Check().alive);
  clock.Advance(milliseconds(1));
  const Liveness::Verdict v = liveness.Check();
  EXPECT_FALSE(v.alive);
  ASSERT_EQ(v.newly_stalled.size(), 1u);
  EXPECT_EQ(v.newly_stalled[0].part, "worker 1");
}

TEST(LivenessTest, AStalledPartThatGoesIdleRecovers) {
  FakeClock clock;
  Liveness liveness(clock);
  auto& worker = liveness.Add("worker 1", seconds(10));
  clock.Advance(seconds(11));
  EXPECT_FALSE(liveness.Check().alive);
  worker.Idle();  // its slow step ended and it waits for work again
  const Liveness::Verdict v = liveness.Check();
  EXPECT_TRUE(v.alive);
  EXPECT_EQ(v.recovered, std::vector<std::string>{"worker 1"});
}

TEST(LivenessTest, AnIdlePartWakesWellWithinItsDeadline) {
  EXPECT_EQ(Liveness::IdleWake(seconds(20)), seconds(5));
  EXPECT_GE(Liveness::IdleWake(milliseconds(0)), milliseconds(1));
}

}  // namespace
}  // namespace wb
