// common/utf8.h: strict decoding, encoding, and the one case folding the project uses.
#include "common/utf8.h"

#include <gtest/gtest.h>

#include <iterator>
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

std::u32string Decomposed(std::u32string text) {
  DecomposeCanonical(text);
  return text;
}
std::u32string Normalized(std::u32string text) {
  DecomposeCanonical(text);
  ComposeCanonical(text);
  return text;
}

struct NormalizationVector {
  std::u32string input;
  std::u32string nfd;
  std::u32string nfc;
};

// Every canonical decomposition below U+2000 and in U+2100-U+21FF, Hangul, and 400 random
// sequences of letters and marks in any order, with what Python's unicodedata.normalize makes
// of them (scripts/gen-unicode-tables.py).
const NormalizationVector kVectors[] = {
#include "tests/common/normalization_vectors.inc"
};

TEST(NormalizationTest, DecomposeAndComposeAgreeWithUnicodesNfdAndNfc) {
  ASSERT_GT(std::size(kVectors), 1000u);
  for (const NormalizationVector& v : kVectors) {
    EXPECT_EQ(Decomposed(v.input), v.nfd) << std::size(v.input);
    EXPECT_EQ(Normalized(v.input), v.nfc) << std::size(v.input);
  }
}

TEST(NormalizationTest, ALetterAndItsMarksBecomeThePrecomposedLetter) {
  EXPECT_EQ(Normalized(U"Direccio\u0301n"), U"Direcci\u00f3n");
  EXPECT_EQ(Normalized(U"e\u0302\u0323"), U"\u1ec7");  // marks in either order: ệ
  EXPECT_EQ(Normalized(U"e\u0323\u0302"), U"\u1ec7");
  EXPECT_EQ(Normalized(U"\u1100\u1161\u11a8"), U"\uac01");  // Hangul jamo: 각
  EXPECT_EQ(Normalized(U"\u212b"), U"\u00c5");              // ANGSTROM SIGN is Å
  EXPECT_EQ(Decomposed(U"\u01d8"), U"u\u0308\u0301");       // ǘ, two levels down
}

TEST(NormalizationTest, WhatHasNoPrecomposedFormStaysAsWritten) {
  EXPECT_EQ(Normalized(U"q\u0301"), U"q\u0301");
  EXPECT_EQ(Normalized(U"\u0301a"), U"\u0301a");  // a mark with no letter before it
  EXPECT_EQ(Normalized(U""), U"");
  EXPECT_EQ(Normalized(U"plain ascii"), U"plain ascii");
  EXPECT_EQ(Normalized(U"\U0001F600"), U"\U0001F600");
}

}  // namespace
}  // namespace wb
