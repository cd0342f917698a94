// common/utf8.h: strict decoding, encoding, and the one case folding the project uses.
#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace wb {
namespace {

std::u32string Decoded(std::string_view bytes, bool* ok = nullptr) {
  std::u32string out;
  const bool valid = DecodeUtf8Into(bytes, out);
  if (ok != nullptr) *ok = valid;
  return out;
}

TEST(Utf8Test, EveryLengthOfSequenceRoundTrips) {
  for (const char32_t cp : {U'a', U'\u00e9', U'\u20ac', U'\U0001F600', U'\U0010FFFF'}) {
    std::string bytes;
    AppendUtf8(cp, bytes);
    bool ok = false;
    EXPECT_EQ(Decoded(bytes, &ok), std::u32string(1, cp));
    EXPECT_TRUE(ok);
  }
}

TEST(Utf8Test, MalformedSequencesAreRefusedAtTheirFirstByte) {
  for (const char* bad : {"\xC0\xAF",          // overlong '/'
                          "\xE0\x80\xAF",      // overlong, three bytes
                          "\xED\xA0\x80",      // a surrogate
                          "\xF4\x90\x80\x80",  // above U+10FFFF
                          "\xC3",              // truncated
                          "\xE2\x82",          // truncated
                          "\x80",              // a continuation byte first
                          "\xC3\x28"}) {       // a lead byte without its continuation
    SCOPED_TRACE(bad);
    bool ok = true;
    Decoded(std::string("ab") + bad, &ok);
    EXPECT_FALSE(ok);
  }
}

TEST(Utf8Test, FoldCaseFoldsTheCapitalsOfLatinGreekAndCyrillic) {
  EXPECT_EQ(FoldCase(U'Q'), U'q');
  EXPECT_EQ(FoldCase(U'\u00c9'), U'\u00e9');  // É
  EXPECT_EQ(FoldCase(U'\u00d7'), U'\u00d7');  // × is not a letter
  EXPECT_EQ(FoldCase(U'\u0141'), U'\u0142');  // Ł
  EXPECT_EQ(FoldCase(U'\u0130'), U'i');       // İ
  EXPECT_EQ(FoldCase(U'\u0178'), U'\u00ff');  // Ÿ, whose ÿ is in Latin-1
  EXPECT_EQ(FoldCase(U'\u0391'), U'\u03b1');  // Α
  EXPECT_EQ(FoldCase(U'\u0386'), U'\u03ac');  // Ά
  EXPECT_EQ(FoldCase(U'\u0389'), U'\u03ae');  // Ή
  EXPECT_EQ(FoldCase(U'\u038c'), U'\u03cc');  // Ό
  EXPECT_EQ(FoldCase(U'\u038f'), U'\u03ce');  // Ώ
  EXPECT_EQ(FoldCase(U'\u0416'), U'\u0436');  // Ж
  EXPECT_EQ(FoldCase(U'\u0401'), U'\u0451');  // Ё
  EXPECT_EQ(FoldCase(U'\u00e9'), U'\u00e9');  // already lower
  EXPECT_EQ(FoldCase(U'\u4e2d'), U'\u4e2d');  // no case
}

std::u32string Composed(std::u32string text) {
  ComposeCanonical(text);
  return text;
}

TEST(ComposeCanonicalTest, ALetterAndItsCombiningMarkBecomeThePrecomposedLetter) {
  EXPECT_EQ(Composed(U"Direccio\u0301n"), U"Direcci\u00f3n");
  EXPECT_EQ(Composed(U"O\u0301"), U"\u00d3");
  EXPECT_EQ(Composed(U"\u0410\u0306"), U"\u04d0");  // Cyrillic A with breve
  EXPECT_EQ(Composed(U"\u0435\u0308"), U"\u0451");  // ё
  EXPECT_EQ(Composed(U"\u03b1\u0301"), U"\u03ac");  // Greek ά
  EXPECT_EQ(Composed(U"Y\u0308"), U"\u0178");       // Ÿ
}

// Vietnamese letters carry two marks: the dot below (ccc 220) first in canonical order, then
// the circumflex, each composing with the letter composed so far.
TEST(ComposeCanonicalTest, MarksComposeInTurnWithTheLetterComposedSoFar) {
  EXPECT_EQ(Composed(U"e\u0323\u0302"), U"\u1ec7");  // ệ
  EXPECT_EQ(Composed(U"u\u0308\u0301"), U"\u01d8");  // ǘ
}

TEST(ComposeCanonicalTest, WhatHasNoPrecomposedFormStaysAsWritten) {
  EXPECT_EQ(Composed(U"q\u0301"), U"q\u0301");  // no q with acute
  EXPECT_EQ(Composed(U"\u0301a"), U"\u0301a");  // a mark with no letter before it
  EXPECT_EQ(Composed(U"\u00e9"), U"\u00e9");    // already composed
  EXPECT_EQ(Composed(U""), U"");
  EXPECT_EQ(Composed(U"plain ascii"), U"plain ascii");
}

}  // namespace
}  // namespace wb
