// The watchdog's thread (agent/watchdog.h) over a Liveness on a fake clock: it names a stalled
// part once, at error, and a recovery at warn. (Without WatchdogSec= it sends no ping.)
#include "agent/watchdog.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WatchdogTest : public ::testing::Test {
 protected:
  std::string Logged() {
    log_->flush();
    return out_.str();
  }
  testing::FakeClock clock_;
  Liveness liveness_{clock_};
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> log_ = std::make_shared<spdlog::logger>(
      "wbagent", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
};

TEST_F(WatchdogTest, AStalledPartIsNamedOnceAndItsRecoveryToo) {
  auto& worker = liveness_.Add("worker 1", seconds(10));
  Watchdog watchdog(liveness_, milliseconds(5), /*ping=*/false, *log_);
  clock_.Advance(seconds(11));
  Status named = testing::WaitUntil(
      [&] {
        return Logged().find("watchdog: worker 1 has shown no progress for 11 s (allowed: 10 s)") !=
                       std::string::npos
                   ? Status::Ok()
                   : NotFound(Logged());
      },
      seconds(10));
  ASSERT_TRUE(named.ok()) << named.ToString();
  worker.Beat();
  Status recovered = testing::WaitUntil(
      [&] {
        return Logged().find("watchdog: worker 1 shows progress again") != std::string::npos
                   ? Status::Ok()
                   : NotFound(Logged());
      },
      seconds(10));
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  watchdog.Stop();
  const std::string text = Logged();
  EXPECT_EQ(text.find("has shown no progress"), text.rfind("has shown no progress")) << text;
}

TEST_F(WatchdogTest, AllAliveLogsNothing) {
  liveness_.Add("worker 1", seconds(10));
  {
    Watchdog watchdog(liveness_, milliseconds(1), /*ping=*/false, *log_);
    clock_.Advance(seconds(5));
  }
  EXPECT_EQ(Logged(), "");
}

}  // namespace
}  // namespace wb::agent
