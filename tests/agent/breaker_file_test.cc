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

// The file still says tripped after a release: new requests are held, nothing is admitted
// that should not be; and with the state right, only the last action is behind.
TEST(UnsavedBreakerTest, AFileThatHoldsMoreThanItShouldIsAnErrorOnly) {
  const auto release_lost = WarnOfUnsavedBreaker(kStateDir, State(false), State(true));
  EXPECT_FALSE(release_lost.critical);
  EXPECT_NE(release_lost.text.find("still says tripped"), std::string::npos) << release_lost.text;
  for (bool tripped : {true, false}) {
    const auto behind = WarnOfUnsavedBreaker(kStateDir, State(tripped), State(tripped));
    EXPECT_FALSE(behind.critical);
    EXPECT_NE(behind.text.find("as it is, but holds an older last action"), std::string::npos)
        << behind.text;
  }
}

}  // namespace
}  // namespace wb::agent
