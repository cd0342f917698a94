// Reconnects, dead-peer detection, the bounded send queue and the clean close, against a real
// wbcloud that the tests restart, stop and freeze.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "channel/channel.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using channel::Channel;
using channel::ChannelState;
using ::testing::HasSubstr;

class ChannelReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_SERVER(cloud_.Start());
    options_ = TestOptions(cloud_, dir_.path() / "agent", "agent-1");
    // Enrolling is the product's work, not the test server's: its failure fails the test.
    const Status enrolled = Enroll(cloud_, options_);
    ASSERT_TRUE(enrolled.ok()) << enrolled.ToString();
  }

  TempDir dir_{"wbchanreconnect"};
  CloudServer cloud_{dir_.path() / "cloud"};
  channel::Options options_;
};

TEST_F(ChannelReconnectTest, ReconnectsAfterTheCloudRestarts) {
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  cloud_.Stop();
  ASSERT_TRUE(handler.WaitFor([&] { return !handler.disconnects.empty(); }));
  EXPECT_NE(channel.GetState().state, ChannelState::kConnected);
  {
    // The channel thread keeps appending (each failed attempt while the cloud is down).
    std::lock_guard lock(handler.mu);
    EXPECT_THAT(handler.disconnects.front().message(), HasSubstr("closed the connection"));
    EXPECT_THAT(handler.disconnects.front().message(), HasSubstr("close code 1001"));
  }
  ASSERT_TRUE(cloud_.Start().ok());
  EXPECT_TRUE(handler.WaitFor([&] { return handler.connected >= 2; }))
      << channel.GetState().last_error.ToString();
  EXPECT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
}

TEST_F(ChannelReconnectTest, RetriesWhileTheCloudIsDownWithBackoff) {
  cloud_.Stop();
  auto log = CaptureLog();
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_, {.log = log.logger});
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForAttempts(5, kWait));
  const auto state = channel.GetState();
  EXPECT_EQ(state.last_error.code(), Code::kUnavailable);
  EXPECT_THAT(state.last_error.message(), HasSubstr("connection refused"));
  EXPECT_GE(state.failed_attempts, 5);
  // One warning for the first failure; the repeats are not warned about again.
  const std::string text = log.text();
  std::size_t warnings = 0;
  for (std::size_t at = text.find("warning "); at != std::string::npos;
       at = text.find("warning ", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 1u) << text;
  ASSERT_TRUE(cloud_.Start().ok());
  EXPECT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  EXPECT_THAT(log.text(), HasSubstr("failed attempt(s)"));
}

TEST_F(ChannelReconnectTest, DetectsADeadPeer) {
  options_.heartbeat_interval = std::chrono::seconds(1);
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  // A frozen cloud keeps the TCP connection open but answers nothing.
  cloud_.Signal(SIGSTOP);
  const bool failed =
      handler.WaitFor([&] { return !handler.disconnects.empty(); }, std::chrono::seconds(10));
  cloud_.Signal(SIGCONT);
  ASSERT_TRUE(failed);
  {
    std::lock_guard lock(handler.mu);
    EXPECT_THAT(handler.disconnects.front().message(), HasSubstr("dead peer"));
  }
  EXPECT_TRUE(handler.WaitFor([&] { return handler.connected >= 2; }));
}

// A cloud that stops reading while the agent has a lot to write: the write blocks, and the
// heartbeat must not wait behind it (it did: the ping queued after the blocked write).
TEST_F(ChannelReconnectTest, DetectsACloudThatStopsReadingWhileAWriteIsBlocked) {
  options_.heartbeat_interval = std::chrono::seconds(1);
  options_.max_outgoing = 400;
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  cloud_.Signal(SIGSTOP);
  // About 20 MB: more than the socket buffers on both sides hold.
  const std::string filler(60'000, 'x');
  for (int i = 0; i < 350; ++i) {
    if (!channel.Send(protocol::ErrorMessage{.code = "internal", .message = filler}).ok()) break;
  }
  const bool failed =
      handler.WaitFor([&] { return !handler.disconnects.empty(); }, std::chrono::seconds(10));
  cloud_.Signal(SIGCONT);
  ASSERT_TRUE(failed);
  {
    std::lock_guard lock(handler.mu);
    EXPECT_THAT(handler.disconnects.front().message(), HasSubstr("dead peer"));
  }
}

TEST_F(ChannelReconnectTest, SendNeedsAConnection) {
  cloud_.Stop();
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  Status s = channel.Send(protocol::Credits{3});
  EXPECT_EQ(s.code(), Code::kUnavailable);
}

TEST_F(ChannelReconnectTest, StopClosesCleanlyAndPromptly) {
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  EXPECT_TRUE(channel.Send(protocol::Credits{2}).ok());
  const auto start = std::chrono::steady_clock::now();
  channel.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, options_.close_timeout);
  EXPECT_EQ(channel.GetState().state, ChannelState::kStopped);
  // The cloud saw a close frame (a dropped connection would be logged as "connection ended").
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return cloud_.Log().find("agent agent-1 disconnected") != std::string::npos
                               ? Status::Ok()
                               : Unavailable("not yet");
                  },
                  std::chrono::milliseconds(5000))
                  .ok());
  EXPECT_THAT(cloud_.Log(), ::testing::Not(HasSubstr("agent agent-1: connection ended")));
}

TEST_F(ChannelReconnectTest, StopWhileTheCloudIsFrozenKeepsItsDeadline) {
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  options_.close_timeout = std::chrono::seconds(1);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  ASSERT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait));
  cloud_.Signal(SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  channel.Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  cloud_.Signal(SIGCONT);
  EXPECT_LT(took, std::chrono::seconds(3));
}

}  // namespace
}  // namespace wb::testing
