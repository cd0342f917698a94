// agent/breaker_file.h: what the daemon says when it stops with the breaker's state unwritten.
#include "agent/breaker_file.h"

#include <gtest/gtest.h>

#include <string>

namespace wb::agent {
namespace {

const std::filesystem::path kStateDir = "/var/lib/wbagent";

BreakerFile State(bool tripped) {
  BreakerFile file;
  file.state.tripped = tripped;
  return file;
}

// The case that loses a hold: the next start would admit what the breaker holds.
TEST(UnsavedBreakerTest, ATripTheFileDoesNotKnowIsCriticalAndSaysWhatToWrite) {
  const auto w = WarnOfUnsavedBreaker(kStateDir, State(true), State(false));
  EXPECT_TRUE(w.critical);
  EXPECT_NE(w.text.find("the next start would admit the requests it holds"), std::string::npos)
      << w.text;
  EXPECT_NE(w.text.find(R"(write {"tripped":true} into it)"), std::string::npos) << w.text;
  BreakerFile file = State(true);
  file.state.tripped_at = WallTime(std::chrono::milliseconds(1'800'000'000'000));
  const auto exact = WarnOfUnsavedBreaker(kStateDir, file, State(false));
  EXPECT_NE(exact.text.find(R"(write {"tripped":true,"tripped_at_ms":1800000000000} into it)"),
            std::string::npos)
      << "the file as the agent would have written it: " << exact.text;
  EXPECT_NE(w.text.find("/var/lib/wbagent/breaker.json"), std::string::npos) << w.text;
}

// A file that cannot be read stops the next start: critical, whatever the state.
TEST(UnsavedBreakerTest, AnUnreadableFileIsCriticalAndNamesTheStateToWrite) {
  const Result<BreakerFile> unreadable = Status(Code::kCorruption, "not a breaker state");
  for (bool tripped : {true, false}) {
    const auto w = WarnOfUnsavedBreaker(kStateDir, State(tripped), unreadable);
    EXPECT_TRUE(w.critical);
    EXPECT_NE(w.text.find("refuse to run"), std::string::npos) << w.text;
    EXPECT_NE(w.text.find(tripped ? R"({"tripped":true})" : R"({"tripped":false})"),
              std::string::npos)
        << w.text;
  }
}

// The file still says tripped after a release, or holds the count from before it: the next
// start may hold what this one would have admitted, never the reverse. An error, with what
// the next start will do; and with the state right, only the last action is behind.
TEST(UnsavedBreakerTest, AFileThatHoldsMoreThanItShouldIsAnErrorOnly) {
  const auto release_lost = WarnOfUnsavedBreaker(kStateDir, State(false), State(true));
  EXPECT_FALSE(release_lost.critical);
  EXPECT_NE(release_lost.text.find("still says tripped"), std::string::npos) << release_lost.text;
  BreakerFile released = State(false);
  released.state.counting_from = WallTime(std::chrono::milliseconds(1'800'000'000'000));
  const auto count_lost = WarnOfUnsavedBreaker(kStateDir, released, State(false));
  EXPECT_FALSE(count_lost.critical);
  EXPECT_NE(count_lost.text.find("may trip the breaker again on requests already released"),
            std::string::npos)
      << count_lost.text;
  EXPECT_NE(count_lost.text.find(R"("counting_from_ms":1800000000000)"), std::string::npos)
      << count_lost.text;
  for (bool tripped : {true, false}) {
    const auto behind = WarnOfUnsavedBreaker(kStateDir, State(tripped), State(tripped));
    EXPECT_FALSE(behind.critical);
    EXPECT_NE(behind.text.find("as it is, but holds an older last action"), std::string::npos)
        << behind.text;
  }
}

}  // namespace
}  // namespace wb::agent
