#include "channel/internal/in_flight.h"

#include <gtest/gtest.h>

namespace wb::channel::internal {
namespace {

constexpr char kA[] = "3b241101-e2bb-4255-8caf-4136c566a962";
constexpr char kB[] = "9c5b94b1-35ad-49bb-b118-8e8fc24abf80";

protocol::Rejected RejectedFor(const std::string& id) {
  return {.id = id, .code = protocol::RejectCode::kExpired, .reason = "x"};
}
protocol::ResultMessage ResultFor(const std::string& id) {
  return {.id = id, .outcome = "succeeded"};
}

TEST(InFlightTest, ARequestBeyondTheCreditsIsNotAdmitted) {
  InFlight f;
  f.Reset(2);
  EXPECT_TRUE(f.Admit(kA));
  EXPECT_TRUE(f.Admit(kB));
  EXPECT_FALSE(f.Admit("3b241101-e2bb-4255-8caf-000000000000"));
  EXPECT_EQ(f.count(), 2u);
}

TEST(InFlightTest, ZeroCreditsAdmitsNothing) {
  InFlight f;
  f.Reset(0);
  EXPECT_FALSE(f.Admit(kA));
}

TEST(InFlightTest, AcceptedKeepsARequestInFlightUntilItsResult) {
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(kA));
  f.Sent(protocol::Accepted{kA});
  EXPECT_FALSE(f.Admit(kB));
  f.Sent(ResultFor(kA));
  EXPECT_EQ(f.count(), 0u);
  EXPECT_TRUE(f.Admit(kB));
}

TEST(InFlightTest, ARejectedEndsOneDelivery) {
  InFlight f;
  f.Reset(2);
  ASSERT_TRUE(f.Admit(kA));
  ASSERT_TRUE(f.Admit(kA));  // the same request delivered twice
  f.Sent(RejectedFor(kA));
  EXPECT_EQ(f.count(), 1u);
}

TEST(InFlightTest, AResultEndsEveryDeliveryOfItsRequest) {
  InFlight f;
  f.Reset(3);
  ASSERT_TRUE(f.Admit(kA));
  ASSERT_TRUE(f.Admit(kA));
  f.Sent(ResultFor(kA));
  EXPECT_EQ(f.count(), 0u);
}

TEST(InFlightTest, AResultFromAnEarlierConnectionEndsNothing) {
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(kA));
  f.Sent(ResultFor(kB));  // re-sent after welcome for a request of another connection
  EXPECT_EQ(f.count(), 1u);
}

TEST(InFlightTest, ARequestWithoutAReadableIdCountsAndARejectedWithoutIdEndsIt) {
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(""));
  EXPECT_FALSE(f.Admit(kA));
  f.Sent(RejectedFor(""));
  EXPECT_EQ(f.count(), 0u);
}

TEST(InFlightTest, ARejectedWithAnUnknownIdStillEndsOneRequest) {
  // Every rejected answers exactly one request frame: the count never stays above the cloud's.
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(kA));
  f.Sent(RejectedFor(kB));
  EXPECT_EQ(f.count(), 0u);
  f.Sent(RejectedFor(kB));  // nothing left: stays at zero
  EXPECT_EQ(f.count(), 0u);
}

TEST(InFlightTest, ResetAtHelloForgetsTheEarlierConnection) {
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(kA));
  f.Reset(1);
  EXPECT_TRUE(f.Admit(kB));
}

TEST(InFlightTest, ACreditsMessageReplacesTheLimit) {
  InFlight f;
  f.Reset(1);
  ASSERT_TRUE(f.Admit(kA));
  f.Sent(protocol::Credits{3});
  EXPECT_TRUE(f.Admit(kB));
  EXPECT_EQ(f.credits(), 3);
}

}  // namespace
}  // namespace wb::channel::internal
