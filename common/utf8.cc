#include "common/utf8.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace wb {
namespace {

struct Decomposition {
  char32_t code_point;
  char32_t first;
  char32_t second;  // 0: a singleton (U+212B ANGSTROM SIGN is U+00C5)
};
struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};
struct CombiningClass {
  char32_t first;
  char32_t last;
  unsigned char value;
};

#include "common/unicode_tables.inc"

// Hangul syllables are composed of their jamo by arithmetic (Unicode 3.12).
constexpr char32_t kHangulFirst = 0xAC00;
constexpr char32_t kLeadFirst = 0x1100;
constexpr char32_t kVowelFirst = 0x1161;
constexpr char32_t kTrailFirst = 0x11A7;  // one before the first trailing consonant
constexpr char32_t kVowels = 21;
constexpr char32_t kTrails = 28;
constexpr char32_t kSyllables = 19 * kVowels * kTrails;

bool IsHangulSyllable(char32_t c) { return c >= kHangulFirst && c < kHangulFirst + kSyllables; }

int CombiningClassOf(char32_t c) {
  const auto* end = std::end(kCombiningClasses);
  const auto* it =
      std::upper_bound(std::begin(kCombiningClasses), end, c,
                       [](char32_t v, const CombiningClass& r) { return v < r.first; });
  if (it == std::begin(kCombiningClasses)) return 0;
  --it;
  return c <= it->last ? it->value : 0;
}

void AppendDecomposed(char32_t c, std::u32string& out) {
  if (IsHangulSyllable(c)) {
    const char32_t index = c - kHangulFirst;
    out.push_back(kLeadFirst + index / (kVowels * kTrails));
    out.push_back(kVowelFirst + (index % (kVowels * kTrails)) / kTrails);
    if (index % kTrails != 0) out.push_back(kTrailFirst + index % kTrails);
    return;
  }
  const auto* end = std::end(kDecompositions);
  const auto* it =
      std::lower_bound(std::begin(kDecompositions), end, c,
                       [](const Decomposition& d, char32_t v) { return d.code_point < v; });
  if (it == end || it->code_point != c) {
    out.push_back(c);
    return;
  }
  AppendDecomposed(it->first, out);  // its first part may decompose again (ǘ: ü, then u)
  if (it->second != 0) out.push_back(it->second);
}

// The primary composite of `first` and `second`, or 0.
char32_t Compose(char32_t first, char32_t second) {
  if (first >= kLeadFirst && first < kLeadFirst + 19 && second >= kVowelFirst &&
      second < kVowelFirst + kVowels) {
    return kHangulFirst + ((first - kLeadFirst) * kVowels + (second - kVowelFirst)) * kTrails;
  }
  if (IsHangulSyllable(first) && (first - kHangulFirst) % kTrails == 0 && second > kTrailFirst &&
      second < kTrailFirst + kTrails) {
    return first + (second - kTrailFirst);
  }
  const auto* end = std::end(kCompositions);
  const auto* it =
      std::lower_bound(std::begin(kCompositions), end, std::pair{first, second},
                       [](const Composition& c, const std::pair<char32_t, char32_t>& v) {
                         return std::pair{c.first, c.second} < v;
                       });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

void DecomposeCanonical(std::u32string& text) {
  std::u32string out;
  out.reserve(text.size() + text.size() / 2);
  for (const char32_t c : text) AppendDecomposed(c, out);
  // Canonical order: within each run of marks, by combining class, keeping the order of marks
  // of the same class.
  for (std::size_t i = 0; i < out.size();) {
    if (CombiningClassOf(out[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && CombiningClassOf(out[j]) != 0) ++j;
    std::stable_sort(
        out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(j),
        [](char32_t a, char32_t b) { return CombiningClassOf(a) < CombiningClassOf(b); });
    i = j;
  }
  text = std::move(out);
}

// Unicode's canonical composition (UAX #15): each character composes with the last starter
// before it unless a character between them blocks it (one of class 0, or of a class at least
// its own).
void ComposeCanonical(std::u32string& text) {
  if (text.empty()) return;
  std::size_t starter = 0;
  int last_class = CombiningClassOf(text[0]) == 0 ? 0 : 256;  // no starter yet: nothing composes
  std::size_t out = 1;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char32_t c = text[i];
    const int c_class = CombiningClassOf(c);
    const char32_t composite = Compose(text[starter], c);
    if (composite != 0 && (last_class < c_class || last_class == 0)) {
      text[starter] = composite;
      continue;
    }
    if (c_class == 0) starter = out;
    last_class = c_class;
    text[out++] = c;
  }
  text.resize(out);
}

char32_t FoldCase(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 0x20;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;  // Latin-1 capitals
  // Latin Extended-A: capitals at even code points, except the odd-paired 0x139-0x148 and
  // 0x179-0x17E ranges; U+0130 (dotted I) folds to 'i'.
  if (c == 0x130) return U'i';
  if (c == 0x178) return 0xFF;  // Ÿ: its small letter ÿ is in Latin-1
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c % 2 == 0) ? c + 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
  // Greek: the accented capitals (Ά, Έ-Ί, Ό, Ύ-Ώ), then the plain ones.
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;  // Cyrillic capitals
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

}  // namespace wb
