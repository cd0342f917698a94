#include "channel/retry_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "tests/support/fake_clock.h"

namespace wb::channel {
namespace {

using std::chrono::milliseconds;

class RetryLogTest : public ::testing::Test {
 protected:
  RetryLogTest()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
        logger_("t", sink_),
        log_(logger_, clock_, std::chrono::minutes(5)) {
    sink_->set_pattern("%l|%v");
    logger_.set_level(spdlog::level::trace);
  }
  int Count(const std::string& level) {
    int n = 0;
    for (const auto& line : sink_->last_formatted()) n += line.rfind(level + "|", 0) == 0;
    return n;
  }
  std::vector<std::string> Lines() { return sink_->last_formatted(); }

  testing::FakeClock clock_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  spdlog::logger logger_;
  RetryLog log_;
};

TEST_F(RetryLogTest, FirstFailureIsAWarningAndRepeatsAreDebug) {
  const Status refused = Unavailable("cannot connect to cloud 127.0.0.1:1: connection refused");
  for (int i = 0; i < 50; ++i) {
    log_.Failure(refused, milliseconds(1000));
    clock_.Advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(Count("warning"), 1);
  EXPECT_EQ(Count("debug"), 49);
}

TEST_F(RetryLogTest, RepeatsAreSummarisedPeriodically) {
  const Status refused = Unavailable("connection refused");
  for (int i = 0; i < 11 * 60; ++i) {
    log_.Failure(refused, milliseconds(1000));
    clock_.Advance(std::chrono::seconds(1));
  }
  // The first warning, then one summary per five minutes.
  EXPECT_EQ(Count("warning"), 3);
  bool summary = false;
  for (const auto& line : Lines()) summary |= line.find("still failing") != std::string::npos;
  EXPECT_TRUE(summary);
}

TEST_F(RetryLogTest, AChangedErrorIsWarnedAtOnce) {
  log_.Failure(Unavailable("connection refused"), milliseconds(100));
  log_.Failure(Unavailable("connection refused"), milliseconds(100));
  log_.Failure(PermissionDenied("TLS: not signed by a CA in ca.pem"), milliseconds(100));
  EXPECT_EQ(Count("warning"), 3);  // first, "repeated 1 more time", the new error
}

TEST_F(RetryLogTest, SuccessAfterFailuresSaysHowMany) {
  log_.Failure(Unavailable("connection refused"), milliseconds(100));
  log_.Failure(Unavailable("connection refused"), milliseconds(100));
  log_.Success("wss://127.0.0.1:1/agent");
  const auto lines = Lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("after 2 failed attempt(s)"), std::string::npos);
  // And the next failure is a warning again.
  log_.Failure(Unavailable("connection refused"), milliseconds(100));
  EXPECT_EQ(Count("warning"), 2);
}

}  // namespace
}  // namespace wb::channel
