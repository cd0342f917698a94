#include "common/suggest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wb {
namespace {

const std::vector<std::string> kCommands = {"check-config", "run",   "register", "status",
                                            "queue",        "audit", "breaker"};

TEST(SuggestTest, TwoSwappedLettersCountAsOneSlip) {
  EXPECT_EQ(Suggest("stauts", kCommands), "status");
  EXPECT_EQ(Suggest("audti", kCommands), "audit");
  EXPECT_EQ(Suggest("qeury", std::vector<std::string>{"verify", "query", "new-chain"}), "query");
}

TEST(SuggestTest, ADroppedOrChangedLetterIsFound) {
  EXPECT_EQ(Suggest("relase", std::vector<std::string>{"status", "release", "reject"}), "release");
  EXPECT_EQ(Suggest("ca_fle", std::vector<std::string>{"ca_file", "url"}), "ca_file");
}

TEST(SuggestTest, CaseIsIgnoredAndTheCandidateIsReturnedAsWritten) {
  EXPECT_EQ(Suggest("STATUS", kCommands), "status");
  EXPECT_EQ(Suggest("userprincipalname", std::vector<std::string>{"userPrincipalName"}),
            "userPrincipalName");
}

TEST(SuggestTest, AWordFarFromEveryCandidateHasNoSuggestion) {
  EXPECT_EQ(Suggest("frobnicate", kCommands), std::nullopt);
  EXPECT_EQ(Suggest("xy", kCommands), std::nullopt);
  EXPECT_EQ(Suggest("stauts", std::vector<std::string>{}), std::nullopt);
}

}  // namespace
}  // namespace wb
