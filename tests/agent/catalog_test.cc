// The journald message catalog (systemd/wbagent.catalog), parsed by journald's own tool: every
// outcome code and every kind of event the code logs has an entry, and the catalog has no entry
// the code does not use. `journalctl --root` builds the catalog database in a scratch root, as
// the systemd package's trigger does on the host.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "agent/logging.h"
#include "agent/request_mapping.h"
#include "tests/support/process.h"

namespace wb::agent {
namespace {

using testing::RunCommand;
using testing::TempDir;

// MESSAGE_ID -> Subject, as `journalctl --list-catalog` prints them ("<id> wbagent: <subject>").
std::map<std::string, std::string> CatalogIn(const std::filesystem::path& root) {
  const auto listed = RunCommand({"journalctl", "--root=" + root.string(), "--list-catalog"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  std::map<std::string, std::string> entries;
  std::istringstream lines(listed.output);
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    entries[line.substr(0, space)] = line.substr(space + 1);
  }
  return entries;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = root_.path() / "usr/lib/systemd/catalog";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(WB_CATALOG_PATH, dir / "wbagent.catalog");
    const auto updated =
        RunCommand({"journalctl", "--root=" + root_.path().string(), "--update-catalog"});
    ASSERT_EQ(updated.exit_code, 0) << updated.output;
    // journalctl reports a line it cannot parse on stderr and carries on: none may be there.
    EXPECT_EQ(updated.output, "") << "journalctl complained about the catalog";
    entries_ = CatalogIn(root_.path());
    ASSERT_FALSE(entries_.empty());
  }

  TempDir root_{"wbcatalog"};
  std::map<std::string, std::string> entries_;
};

TEST_F(CatalogTest, EveryOutcomeCodeHasAnEntryThatNamesIt) {
  for (const std::string& code : OutcomeCodes()) {
    const std::string id = OutcomeMessageId(code);
    auto found = entries_.find(id);
    if (found == entries_.end()) {
      ADD_FAILURE() << "no catalog entry for outcome " << code << " (MESSAGE_ID " << id << ")";
      continue;
    }
    EXPECT_NE(found->second.find("(" + code + ")"), std::string::npos)
        << code << ": " << found->second;
  }
}

TEST_F(CatalogTest, EveryKindOfEventHasAnEntry) {
  for (int e = 0; e <= static_cast<int>(kLastLogEvent); ++e) {
    const auto event = static_cast<LogEvent>(e);
    const std::string id = EventMessageId(event);
    EXPECT_TRUE(entries_.contains(id))
        << "no catalog entry for event " << LogEventName(event) << " (MESSAGE_ID " << id << ")";
  }
}

// A stale entry (an id no code produces) would explain nothing anyone can see.
TEST_F(CatalogTest, EveryEntryIsAnIdTheCodeUses) {
  std::map<std::string, std::string> used;
  for (const std::string& code : OutcomeCodes()) used[OutcomeMessageId(code)] = code;
  for (int e = 0; e <= static_cast<int>(kLastLogEvent); ++e) {
    used[EventMessageId(static_cast<LogEvent>(e))] = LogEventName(static_cast<LogEvent>(e));
  }
  for (const auto& [id, subject] : entries_) {
    EXPECT_TRUE(used.contains(id))
        << "catalog entry " << id << " (" << subject << ") is no MESSAGE_ID wbagent uses";
  }
  EXPECT_EQ(entries_.size(), used.size());
}

// What `journalctl -x` shows: the entry's text, with a pointer to the docs.
TEST_F(CatalogTest, AnEntrySaysWhatToDoAndWhereToReadMore) {
  const auto dumped = RunCommand({"journalctl", "--root=" + root_.path().string(), "--dump-catalog",
                                  OutcomeMessageId("access_denied")});
  ASSERT_EQ(dumped.exit_code, 0) << dumped.output;
  EXPECT_NE(dumped.output.find("Reset Password"), std::string::npos) << dumped.output;
  EXPECT_NE(dumped.output.find("troubleshooting.md"), std::string::npos) << dumped.output;
}

TEST(MessageIdTest, IdsAre128BitsInLowerHexAndStable) {
  const std::string id = OutcomeMessageId("access_denied");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(id, OutcomeMessageId("access_denied"));
  EXPECT_NE(id, OutcomeMessageId("user_not_found"));
  EXPECT_NE(EventMessageId(LogEvent::kReady), EventMessageId(LogEvent::kStopped));
  // An outcome decides the MESSAGE_ID, so that `journalctl -x` explains the code.
  EXPECT_EQ(MessageIdFor({.event = LogEvent::kRequestFinished, .outcome = "access_denied"}), id);
  EXPECT_EQ(MessageIdFor({.event = LogEvent::kReady}), EventMessageId(LogEvent::kReady));
  EXPECT_EQ(MessageIdFor({}), "");
}

}  // namespace
}  // namespace wb::agent
