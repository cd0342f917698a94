#include "common/log_escape.h"

#include <gtest/gtest.h>

namespace wb {
namespace {

TEST(EscapeForLogTest, PrintableTextPassesThrough) {
  EXPECT_EQ(EscapeForLog("uid=alice,ou=people"), "uid=alice,ou=people");
}

TEST(EscapeForLogTest, NewlinesCannotForgeLogLines) {
  EXPECT_EQ(EscapeForLog("a\nlevel=error"), "a\\x0alevel=error");
}

TEST(EscapeForLogTest, TerminalEscapesAndBackslashAreEscaped) {
  EXPECT_EQ(EscapeForLog("\x1b[31m\\"), "\\x1b[31m\\x5c");
}

TEST(EscapeForLogTest, LongTextIsCut) { EXPECT_EQ(EscapeForLog("abcdef", 3), "abc..."); }

TEST(ShowEscapedTest, TextEscapedWhereItEnteredIsShownUnchanged) {
  const std::string escaped = EscapeForLog("data 0\n\\ end");
  EXPECT_EQ(escaped, "data 0\\x0a\\x5c end");
  EXPECT_EQ(ShowEscaped(escaped), escaped);
}

TEST(ShowEscapedTest, ARawControlCharacterIsStillEscaped) {
  EXPECT_EQ(ShowEscaped("edited\x1b[31m\n"), "edited\\x1b[31m\\x0a");
}

TEST(ShowEscapedTest, LongTextIsCut) { EXPECT_EQ(ShowEscaped("abcdef", 3), "abc..."); }

}  // namespace
}  // namespace wb
