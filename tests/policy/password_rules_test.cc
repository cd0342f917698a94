// The password rules' pure functions (policy/password_rules.h): UTF-8 decoding, classes, runs,
// AD's name tokens, and the banned-words normalisation and score, table-driven from the
// examples in Microsoft Entra Password Protection's documentation.

#include "policy/password_rules.h"

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace wb::policy::internal {
namespace {

CodePoints Decode(std::string_view utf8) {
  auto cps = DecodeUtf8(utf8);
  EXPECT_TRUE(cps.has_value()) << utf8;
  return cps.value_or(CodePoints{});
}

TEST(PasswordRulesTest, DecodeCountsCodePointsNotBytes) {
  EXPECT_EQ(Decode("abc").size(), 3u);
  EXPECT_EQ(Decode("h\xC3\xA9llo").size(), 5u);  // é: 2 bytes
  EXPECT_EQ(Decode("\xE2\x82\xAC"
                   "1")
                .size(),
            2u);  // €: 3 bytes
  EXPECT_EQ(Decode("\xF0\x9F\x94\x91"
                   "k")
                .size(),
            2u);  // 🔑: 4 bytes
}

TEST(PasswordRulesTest, DecodeRefusesInvalidUtf8) {
  for (std::string_view bad :
       {std::string_view("\xC3"), std::string_view("\xC0\xAF"), std::string_view("\xED\xA0\x80"),
        std::string_view("\xF4\x90\x80\x80"), std::string_view("\xFF"), std::string_view("a\x80"),
        std::string_view("\xE2\x82")}) {
    EXPECT_FALSE(DecodeUtf8(bad).has_value()) << ::testing::PrintToString(std::string(bad));
  }
}

TEST(PasswordRulesTest, ClassesAreUpperLowerDigitSymbolOther) {
  EXPECT_EQ(ClassOf(U'Q'), CharClass::kUpper);
  EXPECT_EQ(ClassOf(U'q'), CharClass::kLower);
  EXPECT_EQ(ClassOf(U'7'), CharClass::kDigit);
  EXPECT_EQ(ClassOf(U' '), CharClass::kSymbol);
  EXPECT_EQ(ClassOf(U'~'), CharClass::kSymbol);
  EXPECT_EQ(ClassOf(U'\u00E9'), CharClass::kOther);
  EXPECT_EQ(ClassOf(U'\u00C9'), CharClass::kOther);  // non-ASCII capitals are "other"
  EXPECT_EQ(ClassOf(U'\t'), CharClass::kNone);
  EXPECT_EQ(CountClasses(Decode("aaaa")), 1);
  EXPECT_EQ(CountClasses(Decode("aA1!")), 4);
  EXPECT_EQ(CountClasses(Decode("aA1!\xC3\xA9")), 5);
  EXPECT_EQ(CountClasses(Decode("\t\t")), 0);
}

TEST(PasswordRulesTest, LongestRunCountsCodePoints) {
  EXPECT_EQ(LongestRun(Decode("")), 0u);
  EXPECT_EQ(LongestRun(Decode("abc")), 1u);
  EXPECT_EQ(LongestRun(Decode("abbbc")), 3u);
  EXPECT_EQ(LongestRun(Decode("\xC3\xA9\xC3\xA9")), 2u);  // two é, not four bytes
}

TEST(PasswordRulesTest, ForbiddenCharactersAreCodePoints) {
  const std::u32string forbidden = U"\u00E9 ";
  EXPECT_TRUE(ContainsAnyOf(Decode("caf\xC3\xA9"), forbidden));
  EXPECT_TRUE(ContainsAnyOf(Decode("a b"), forbidden));
  // \xC3\xA8 (è) shares its first byte with é: code points, not bytes, are compared.
  EXPECT_FALSE(ContainsAnyOf(Decode("\xC3\xA8"), forbidden));
}

TEST(PasswordRulesTest, NameTokensSplitOnAdDelimitersAndDropShortOnes) {
  const auto tokens = NameTokens("Erin M. Hagens-Lee,Jr_x#abc\tdef@corp.example");
  const std::vector<std::u32string> want = {U"erin", U"hagens", U"lee",    U"abc",
                                            U"def",  U"corp",   U"example"};
  EXPECT_EQ(tokens, want);  // "M", "Jr", "x" are shorter than 3
  EXPECT_TRUE(NameTokens("\xFF").empty());
}

TEST(PasswordRulesTest, NameTokenMatchIsCaseInsensitiveIncludingNonAscii) {
  EXPECT_TRUE(ContainsNameToken(Decode("xxHAGENS99"), NameTokens("Hagens")));
  EXPECT_TRUE(ContainsNameToken(Decode("\xC3\x89MILE-1"), NameTokens("\xC3\xA9mile")));  // Émile
  EXPECT_FALSE(ContainsNameToken(Decode("hagen5"), NameTokens("Hagens")));
  EXPECT_FALSE(ContainsNameToken(Decode("anything"), {}));
}

// Entra's substitutions, and '1' standing for both 'l' and 'i'.
TEST(PasswordRulesTest, NormalisationLowercasesAndSubstitutes) {
  struct Case {
    std::string_view in;
    std::u32string_view out;
  };
  for (const Case& c :
       {Case{"P@$$W0RD", U"password"}, Case{"3l1te", U"ellte"}, Case{"4dm!n", U"admln"},
        Case{"5umm3r7", U"summert"}, Case{"Admin", U"admln"}, Case{"London", U"london"}}) {
    const CodePoints n = NormaliseBanned(Decode(c.in));
    EXPECT_EQ(std::u32string(n.begin(), n.end()), c.out) << c.in;
  }
}

TermSet Terms(std::initializer_list<std::string_view> words) {
  TermSet set;
  for (std::string_view w : words) {
    const CodePoints n = NormaliseBanned(Decode(w));
    set.Add(std::u32string(n.begin(), n.end()));
  }
  set.Finish();
  return set;
}

int Score(std::string_view password, const TermSet& banned, const TermSet& names = TermSet()) {
  return BannedScore(Decode(password), banned, names);
}

// The documented fuzzy-matching example: with "abcdef" banned, "abcdeg" (a changed
// character), "abcdefg" (an added one) and "abcde" (a removed one) all match it.
TEST(PasswordRulesTest, FuzzyMatchWithinEditDistanceOneAsDocumented) {
  const TermSet banned = Terms({"abcdef"});
  EXPECT_EQ(Score("abcdef", banned), 1);
  EXPECT_EQ(Score("abcdeg", banned), 1);
  EXPECT_EQ(Score("abcxdef", banned), 1);  // an added character inside the term
  EXPECT_EQ(Score("abcdefg", banned), 2);  // the term, and the added character scores its own
  EXPECT_EQ(Score("abcde", banned), 1);
  EXPECT_EQ(Score("abxdxf", banned), 6);  // two edits: no match, six characters
}

// The documented scoring examples: with "contoso" and "blank" banned, "C0ntos0Blank12" is
// [contoso][blank][1][2] = 4 points (refused at 5), "ContoS0Bl@nkf9!" is 5 (accepted).
TEST(PasswordRulesTest, ScoreAsDocumented) {
  const TermSet banned = Terms({"contoso", "blank"});
  struct Case {
    std::string_view password;
    int score;
  };
  for (const Case& c :
       {Case{"C0ntos0Blank12", 4}, Case{"ContoS0Bl@nkf9!", 5}, Case{"contoso", 1},
        Case{"Contoso!", 2}, Case{"c0nt0s0bl4nk", 2}, Case{"xyzzyxyzzy", 10}, Case{"", 0}}) {
    EXPECT_EQ(Score(c.password, banned), c.score) << c.password;
  }
}

TEST(PasswordRulesTest, TermsShorterThanFourAreIgnored) {
  const TermSet banned = Terms({"abc", "q"});
  EXPECT_TRUE(banned.empty());
  EXPECT_EQ(Score("abcabc", banned), 6);
}

// The user's names score like banned terms (Entra's substring match on first and last name).
TEST(PasswordRulesTest, NamesScoreLikeBannedTerms) {
  const TermSet names = Terms({"Erin", "Hagens"});
  EXPECT_EQ(Score("Er1nHagens!", TermSet(), names), 3);  // [erin][hagens][!]
  EXPECT_EQ(Score("Er1nHagens!", Terms({"password"})), 11);
}

TEST(PasswordRulesTest, BannedFileSkipsBlankAndCommentLines) {
  auto words = BannedWords::Parse("# ours\r\ncontoso\r\n\r\nblank\nab\n", "banned.txt");
  ASSERT_TRUE(words.ok()) << words.error().ToString();
  EXPECT_EQ(words->terms().size(), 2u);  // "ab" is too short to count
}

TEST(PasswordRulesTest, BannedFileWithInvalidUtf8IsRefusedAtItsLine) {
  auto words = BannedWords::Parse(
      "contoso\nbl\xFF"
      "ank\n",
      "banned.txt");
  ASSERT_FALSE(words.ok());
  EXPECT_EQ(words.error().message(), "banned.txt:2: is not valid UTF-8");
}

TEST(PasswordRulesTest, BannedFileWithOverlongTermIsRefusedAtItsLine) {
  std::string text = "ok-term\n";
  text += std::string(kMaxTermLength + 1, 'x');
  auto words = BannedWords::Parse(text, "b.txt");
  ASSERT_FALSE(words.ok());
  EXPECT_NE(words.error().message().find("b.txt:2: a term is longer than 64"), std::string::npos);
}

TEST(PasswordRulesTest, BannedFileWithTooManyTermsIsRefused) {
  std::string text;
  for (std::size_t i = 0; i <= config::kMaxBannedWords; ++i) {
    text += 'w';
    text += std::to_string(i);
    text += "xx\n";
  }
  auto words = BannedWords::Parse(text, "big.txt");
  ASSERT_FALSE(words.ok());
  EXPECT_NE(words.error().message().find("big.txt:1000001: more than 1000000 terms"),
            std::string::npos)
      << words.error().message();
}

}  // namespace
}  // namespace wb::policy::internal
