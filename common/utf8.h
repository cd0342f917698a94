#pragma once
// UTF-8 and case: the one place the project decodes, encodes and case-folds text (policy's
// password rules and names, ldap/'s DN comparison, protocol/'s secret JSON).
//
// - DecodeUtf8Into: strict UTF-8 (RFC 3629): no overlong form, no surrogate, nothing above
//   U+10FFFF, no truncated sequence. Appends each code point to `out` (any container of
//   char32_t with push_back: a secure one for a password); false at the first invalid byte,
//   with what came before it appended.
// - AppendUtf8: the UTF-8 of one code point. REQUIRES: a Unicode scalar value.
// - FoldCase: simple one-to-one case folding of the capitals of ASCII, Latin-1, Latin
//   Extended-A, Greek (with its accented capitals) and Cyrillic; any other code point is its
//   own fold. U+0130 (capital I with a dot) folds to `i`.
// - ComposeCanonical: a letter followed by its combining marks becomes the precomposed letter
//   when Unicode has one below U+2000 (Latin, Greek, Cyrillic, Vietnamese): `e` + U+0301 is
//   `é`, as in NFC, so that text typed on a system that writes decomposed letters (macOS)
//   compares equal to the same text precomposed. Marks compose in the order written, each
//   with the letter composed so far; unlike full NFC, marks in another than canonical order
//   and a mark that composes past one that does not stay as written, as do Hangul jamo.
//
// Threads: pure functions.

#include <cstddef>
#include <string>
#include <string_view>

namespace wb {

template <typename Out>
bool DecodeUtf8Into(std::string_view bytes, Out& out) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    std::size_t extra = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      extra = 1;
      cp = b0 & 0x1F;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2;
      cp = b0 & 0x0F;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= bytes.size()) return false;  // truncated
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(bytes[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    i += extra + 1;
  }
  return true;
}

template <typename String>
void AppendUtf8(char32_t cp, String& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t FoldCase(char32_t c);

void ComposeCanonical(std::u32string& text);

}  // namespace wb
