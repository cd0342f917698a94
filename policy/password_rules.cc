#include "policy/password_rules.h"

#include <algorithm>
#include <array>
#include <fstream>

#include "config/config.h"

namespace wb::policy::internal {
namespace {

bool IsNameDelimiter(char32_t c) {
  switch (c) {
    case U',':
    case U'.':
    case U'-':
    case U'_':
    case U'#':
    case U' ':
    case U'\t':
    case U'@':
      return true;
    default:
      return false;
  }
}

// Hashing for TermSet: a polynomial hash over mixed code points (so that substrings and
// one-deletion variants of a password are hashed in O(1) from its prefix hashes), and a final
// mix of hash, length and variant tag into the stored key.
constexpr std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t kBase = 0x100000001b3ULL * 2 + 1;  // odd
constexpr std::size_t kMaxSpan = kMaxTermLength + 2;

constexpr std::array<std::uint64_t, kMaxSpan + 1> MakePowers() {
  std::array<std::uint64_t, kMaxSpan + 1> p{};
  p[0] = 1;
  for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * kBase;
  return p;
}
constexpr std::array<std::uint64_t, kMaxSpan + 1> kPowers = MakePowers();

std::uint64_t CharValue(char32_t c) { return Mix(static_cast<std::uint64_t>(c) + 0x9e37); }

template <typename Prefix>
void FillPrefix(std::span<const char32_t> text, Prefix& out) {
  out.resize(text.size() + 1);
  out[0] = 0;
  for (std::size_t i = 0; i < text.size(); ++i) out[i + 1] = out[i] * kBase + CharValue(text[i]);
}

// The hash of text[i, j) (j - i <= kMaxSpan).
std::uint64_t Sub(std::span<const std::uint64_t> prefix, std::size_t i, std::size_t j) {
  return prefix[j] - prefix[i] * kPowers[j - i];
}
// The hash of text[i, j) without the character at p.
std::uint64_t Del(std::span<const std::uint64_t> prefix, std::size_t i, std::size_t j,
                  std::size_t p) {
  return Sub(prefix, i, p) * kPowers[j - p - 1] + Sub(prefix, p + 1, j);
}

// tag 0: the text itself; tag q + 1: the text is a term without its character at q.
std::uint64_t Key(std::uint64_t hash, std::size_t length, std::size_t tag) {
  return Mix(hash ^ Mix((static_cast<std::uint64_t>(length) << 8) | tag));
}

}  // namespace

std::optional<CodePoints> DecodeUtf8(std::string_view bytes) {
  CodePoints out;
  out.reserve(bytes.size());
  if (!DecodeUtf8Into(bytes, out)) return std::nullopt;
  return out;
}

std::optional<std::u32string> DecodeText(std::string_view bytes) {
  std::u32string out;
  if (!DecodeUtf8Into(bytes, out)) return std::nullopt;
  return out;
}

CharClass ClassOf(char32_t c) {
  if (c >= U'A' && c <= U'Z') return CharClass::kUpper;
  if (c >= U'a' && c <= U'z') return CharClass::kLower;
  if (c >= U'0' && c <= U'9') return CharClass::kDigit;
  if (c >= 0x20 && c < 0x7F) return CharClass::kSymbol;  // the rest of printable ASCII
  if (c >= 0x80) return CharClass::kOther;
  return CharClass::kNone;
}

int CountClasses(std::span<const char32_t> password) {
  std::array<bool, 6> seen{};
  for (char32_t c : password) seen[static_cast<std::size_t>(ClassOf(c))] = true;
  seen[static_cast<std::size_t>(CharClass::kNone)] = false;
  return static_cast<int>(std::count(seen.begin(), seen.end(), true));
}

std::size_t LongestRun(std::span<const char32_t> password) {
  std::size_t longest = 0;
  std::size_t run = 0;
  for (std::size_t i = 0; i < password.size(); ++i) {
    run = (i > 0 && password[i] == password[i - 1]) ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  return longest;
}

bool ContainsAnyOf(std::span<const char32_t> password, std::u32string_view forbidden) {
  return std::any_of(password.begin(), password.end(),
                     [&](char32_t c) { return forbidden.find(c) != std::u32string_view::npos; });
}

std::vector<std::u32string> NameTokens(std::string_view name) {
  std::vector<std::u32string> tokens;
  auto text = DecodeText(name);
  if (!text) return tokens;
  std::u32string token;
  auto flush = [&] {
    if (token.size() >= 3) tokens.push_back(token);
    token.clear();
  };
  for (char32_t c : *text) {
    if (IsNameDelimiter(c)) {
      flush();
    } else {
      token.push_back(FoldCase(c));
    }
  }
  flush();
  return tokens;
}

bool ContainsNameToken(std::span<const char32_t> password,
                       const std::vector<std::u32string>& tokens) {
  if (tokens.empty()) return false;
  CodePoints folded(password.begin(), password.end());
  std::transform(folded.begin(), folded.end(), folded.begin(),
                 [](char32_t c) { return FoldCase(c); });
  return std::any_of(tokens.begin(), tokens.end(), [&](const std::u32string& t) {
    return std::search(folded.begin(), folded.end(), t.begin(), t.end()) != folded.end();
  });
}

char32_t NormaliseBanned(char32_t c) {
  switch (const char32_t f = FoldCase(c)) {
    case U'0':
      return U'o';
    case U'1':
    case U'!':
    case U'i':
      return U'l';
    case U'$':
    case U'5':
      return U's';
    case U'@':
    case U'4':
      return U'a';
    case U'3':
      return U'e';
    case U'7':
      return U't';
    default:
      return f;
  }
}

CodePoints NormaliseBanned(std::span<const char32_t> text) {
  CodePoints out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = NormaliseBanned(text[i]);
  return out;
}

// --- TermSet -------------------------------------------------------------------------------

void TermSet::Add(std::u32string_view term) {
  const std::size_t n = term.size();
  if (n < kMinTermLength || n > kMaxTermLength) return;
  std::vector<std::uint64_t> prefix;
  FillPrefix(std::span<const char32_t>(term.data(), n), prefix);
  keys_.push_back(Key(Sub(prefix, 0, n), n, 0));
  for (std::size_t q = 0; q < n; ++q) keys_.push_back(Key(Del(prefix, 0, n, q), n - 1, q + 1));
  ++terms_;
  min_length_ = std::min(min_length_, n);
  max_length_ = std::max(max_length_, n);
}

void TermSet::Finish() {
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  // buckets_[b]: the first key whose top bits are b or more, so that a lookup searches only
  // its bucket (a few keys) instead of the whole list: one or two cache misses, not twenty.
  // Small sets (the user's names, built per check) are searched whole.
  buckets_.clear();
  if (keys_.size() < kBuckets / 16) return;
  buckets_.assign(kBuckets + 1, static_cast<std::uint32_t>(keys_.size()));
  for (std::size_t i = keys_.size(); i-- > 0;) {
    buckets_[keys_[i] >> kBucketShift] = static_cast<std::uint32_t>(i);
  }
  for (std::size_t b = kBuckets; b-- > 0;) buckets_[b] = std::min(buckets_[b], buckets_[b + 1]);
}

bool TermSet::Has(std::uint64_t key) const {
  if (buckets_.empty()) return std::binary_search(keys_.begin(), keys_.end(), key);
  const std::size_t b = key >> kBucketShift;
  const auto first = keys_.begin() + buckets_[b];
  const auto last = keys_.begin() + buckets_[b + 1];
  return std::binary_search(first, last, key);
}

bool TermSet::Matches(std::span<const std::uint64_t> prefix, std::size_t begin,
                      std::size_t end) const {
  const std::size_t l = end - begin;
  if (terms_ == 0 || l + 1 < min_length_ || l > max_length_ + 1) return false;
  const std::uint64_t whole = Sub(prefix, begin, end);
  // A term of the same length: equal, or one substitution (both without position q agree).
  if (l >= min_length_ && l <= max_length_) {
    if (Has(Key(whole, l, 0))) return true;
    for (std::size_t q = 0; q < l; ++q) {
      if (Has(Key(Del(prefix, begin, end, begin + q), l - 1, q + 1))) return true;
    }
  }
  // A term one shorter: the stretch has one character inserted, inside the term (an extra
  // character at either end is the password's own, and scores its own point).
  if (l - 1 >= min_length_ && l - 1 <= max_length_) {
    for (std::size_t p = begin + 1; p + 1 < end; ++p) {
      if (Has(Key(Del(prefix, begin, end, p), l - 1, 0))) return true;
    }
  }
  // A term one longer: the stretch lacks one of its characters.
  if (l + 1 >= min_length_ && l + 1 <= max_length_) {
    for (std::size_t q = 0; q <= l; ++q) {
      if (Has(Key(whole, l, q + 1))) return true;
    }
  }
  return false;
}

PrefixHashes PrefixHashesOf(std::span<const char32_t> normalised) {
  PrefixHashes prefix;
  FillPrefix(normalised, prefix);
  return prefix;
}

// --- BannedWords ---------------------------------------------------------------------------

Result<BannedWords> BannedWords::Parse(std::string_view text, std::string_view display) {
  BannedWords words;
  std::size_t line_no = 0;
  auto problem = [&](std::string_view what) {
    std::string message(display);
    message += ':';
    message += std::to_string(line_no);
    message += ": ";
    message += what;
    return InvalidArgument(std::move(message));
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto term = DecodeText(line);
    if (!term) return problem("is not valid UTF-8");
    if (term->size() > kMaxTermLength) {
      std::string what = "a term is longer than ";
      what += std::to_string(kMaxTermLength);
      what += " characters";
      return problem(what);
    }
    if (words.terms_.size() >= config::kMaxBannedWords) {
      std::string what = "more than ";
      what += std::to_string(config::kMaxBannedWords);
      what += " terms";
      return problem(what);
    }
    std::transform(term->begin(), term->end(), term->begin(),
                   [](char32_t c) { return NormaliseBanned(c); });
    words.terms_.Add(*term);
  }
  words.terms_.Finish();
  return words;
}

Result<BannedWords> BannedWords::Load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path.string() + ": cannot be opened");
  std::string text(config::kMaxBannedWordsFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return IoError(path.string() + ": cannot be read");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > config::kMaxBannedWordsFileBytes) {
    std::string message = path.string();
    message += ": larger than the limit of ";
    message += std::to_string(config::kMaxBannedWordsFileBytes);
    message += " bytes";
    return InvalidArgument(std::move(message));
  }
  return Parse(text, path.string());
}

int BannedScore(std::span<const char32_t> password, const TermSet& banned, const TermSet& names) {
  const CodePoints normalised = NormaliseBanned(password);
  const PrefixHashes prefix = PrefixHashesOf(normalised);
  const std::size_t n = normalised.size();
  const std::size_t longest = std::max(banned.max_length(), names.max_length()) + 1;
  // best[i]: the fewest points covering normalised[i, n).
  std::vector<int> best(n + 1, 0);
  for (std::size_t i = n; i-- > 0;) {
    best[i] = best[i + 1] + 1;
    const std::size_t last = std::min(n - i, longest);
    for (std::size_t l = kMinTermLength; l <= last; ++l) {
      if (best[i + l] + 1 >= best[i]) continue;
      if (banned.Matches(prefix, i, i + l) || names.Matches(prefix, i, i + l)) {
        best[i] = best[i + l] + 1;
      }
    }
  }
  return best[0];
}

}  // namespace wb::policy::internal
