#pragma once
// Internal to policy/: the password rules as pure functions over a password's code points
// (policy.cc and tests include this; nothing else). docs/policy.md, "Password rules", is the
// administrator's description; this header is the precise one.
//
// Secrets: a password is decoded into CodePoints, which live in secure memory
// (common/secure_memory.h) and are wiped when freed; every normalised or folded copy is a
// CodePoints too. Nothing here copies a password into a std::string, logs, or returns any
// part of it: the results are booleans and counts.
//
// Case folding (FoldCase, common/utf8.h) is simple one-to-one folding for ASCII, Latin-1, Latin
// Extended-A, Greek and Cyrillic capital letters; other scripts are compared as they are.
//
// Threads: everything is const after construction and may be used from any thread.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure_memory.h"
#include "common/status.h"
#include "common/utf8.h"

namespace wb::policy::internal {

using CodePoints = std::vector<char32_t, SecureAllocator<char32_t>>;

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// nullopt when `bytes` is not valid UTF-8.
std::optional<CodePoints> DecodeUtf8(std::string_view bytes);
// The same for text that is not secret (config values, banned terms, names).
std::optional<std::u32string> DecodeText(std::string_view bytes);

using ::wb::FoldCase;  // common/utf8.h

// The classes min_classes counts. kSymbol: ASCII punctuation and space. kOther: any code point
// above U+007F. ASCII control characters belong to no class (kNone).
enum class CharClass { kUpper, kLower, kDigit, kSymbol, kOther, kNone };
CharClass ClassOf(char32_t c);
int CountClasses(std::span<const char32_t> password);

// The longest run of one code point (0 for an empty password).
std::size_t LongestRun(std::span<const char32_t> password);

bool ContainsAnyOf(std::span<const char32_t> password, std::u32string_view forbidden);

// AD's name tokens (Microsoft's "Password must meet complexity requirements"): `name` split on
// , . - _ # space and tab (and '@', so that a UPN login name splits at its domain), case
// folded; tokens shorter than 3 code points are dropped. Names that are not UTF-8 give none.
std::vector<std::u32string> NameTokens(std::string_view name);
// Whether the case-folded password contains one of the tokens.
bool ContainsNameToken(std::span<const char32_t> password,
                       const std::vector<std::u32string>& tokens);

// The banned-words normalisation: FoldCase, then 0→o, 1→l, !→l, i→l, $→s, 5→s, @→a, 4→a,
// 3→e, 7→t. '1' stands for both 'l' and 'i', so 'i', 'l', '1' and '!' all become 'l' (in
// terms and passwords alike): "adm1n" matches "admin" and "1ondon" matches "london".
char32_t NormaliseBanned(char32_t c);
CodePoints NormaliseBanned(std::span<const char32_t> text);

// Terms shorter than this are ignored (Entra's custom list refuses them); a match covers at
// least this many characters of the password.
inline constexpr std::size_t kMinTermLength = 4;
// Terms longer than this are refused when a list is read.
inline constexpr std::size_t kMaxTermLength = 64;

// A set of normalised terms that finds, for a stretch of a normalised password, whether it is
// within edit distance 1 (one insertion, deletion or substitution) of a term. Terms are kept
// as 64-bit hashes of the term and of its one-deletion variants (symmetric deletion), so a
// lookup never compares text; a hash collision could only make a password match a term it
// does not contain (a false refusal), with odds near 2^-64 per lookup.
class TermSet {
 public:
  // `term` is normalised already; shorter than kMinTermLength or longer than kMaxTermLength:
  // ignored.
  void Add(std::u32string_view term);
  // Call after the last Add, before Matches.
  void Finish();
  std::size_t size() const { return terms_; }
  bool empty() const { return terms_ == 0; }
  std::size_t min_length() const { return min_length_; }
  std::size_t max_length() const { return max_length_; }
  // Whether password[begin, end) is within edit distance 1 of a term. `prefix` is the
  // password's prefix hashes (PrefixHashes).
  bool Matches(std::span<const std::uint64_t> prefix, std::size_t begin, std::size_t end) const;

 private:
  static constexpr int kBucketBits = 16;
  static constexpr int kBucketShift = 64 - kBucketBits;
  static constexpr std::size_t kBuckets = std::size_t{1} << kBucketBits;
  bool Has(std::uint64_t key) const;
  std::vector<std::uint64_t> keys_;  // sorted after Finish
  // kBuckets + 1 offsets into keys_ after Finish; empty for small sets.
  std::vector<std::uint32_t> buckets_;
  std::size_t terms_ = 0;
  std::size_t min_length_ = kMaxTermLength + 1;
  std::size_t max_length_ = 0;
};

// Prefix hashes of a normalised password, for TermSet::Matches; derived from the password, so
// kept in secure memory too.
using PrefixHashes = std::vector<std::uint64_t, SecureAllocator<std::uint64_t>>;
PrefixHashes PrefixHashesOf(std::span<const char32_t> normalised);

// A banned-words file: UTF-8, one term per line; empty lines and lines starting with '#'
// are skipped; a trailing '\r' is removed. At most config::kMaxBannedWords terms.
class BannedWords {
 public:
  // `text` is the file's content; `display` names it in errors ("FILE:LINE: problem").
  static Result<BannedWords> Parse(std::string_view text, std::string_view display);
  // Reads and parses the file (at most config::kMaxBannedWordsFileBytes).
  static Result<BannedWords> Load(const std::filesystem::path& path);
  const TermSet& terms() const { return terms_; }

 private:
  TermSet terms_;
};

// Entra Password Protection's score of a password: the fewest points covering its normalised
// form, where a stretch that matches a term (BannedWords or `names`) scores 1 and every other
// character scores 1. `names`: the user's names, normalised, as a TermSet.
int BannedScore(std::span<const char32_t> password, const TermSet& banned, const TermSet& names);

}  // namespace wb::policy::internal
