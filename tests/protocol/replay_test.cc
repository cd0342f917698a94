// The in-memory ReplayGuard (the contract the queue's durable one must also keep).
#include <gtest/gtest.h>

#include "protocol/protocol.h"
#include "tests/support/fake_clock.h"

namespace wb::protocol {
namespace {

using Verdict = ReplayGuard::Verdict;
using std::chrono::seconds;

TEST(InMemoryReplayGuard, NewRedeliveryAndReplay) {
  wb::testing::FakeClock clock;
  auto guard = NewInMemoryReplayGuard(clock);
  const WallTime until = clock.Now() + seconds(600);
  EXPECT_EQ(*guard->Remember("id-1", "nonce-1", until), Verdict::kNew);
  EXPECT_EQ(*guard->Remember("id-1", "nonce-1", until), Verdict::kRedelivery);
  EXPECT_EQ(*guard->Remember("id-1", "nonce-2", until), Verdict::kReplay);
  EXPECT_EQ(*guard->Remember("id-2", "nonce-1", until), Verdict::kReplay);
  EXPECT_EQ(*guard->Remember("id-2", "nonce-2", until), Verdict::kNew);
}

TEST(InMemoryReplayGuard, ForgetsAfterTheWindow) {
  wb::testing::FakeClock clock;
  auto guard = NewInMemoryReplayGuard(clock);
  EXPECT_EQ(*guard->Remember("id-1", "nonce-1", clock.Now() + seconds(60)), Verdict::kNew);
  clock.Advance(seconds(61));
  EXPECT_EQ(*guard->Remember("id-1", "nonce-3", clock.Now() + seconds(60)), Verdict::kNew);
  EXPECT_EQ(*guard->Remember("id-9", "nonce-1", clock.Now() + seconds(60)), Verdict::kNew);
}

}  // namespace
}  // namespace wb::protocol
