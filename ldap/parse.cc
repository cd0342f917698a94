#include <cstdio>
#include <ctime>
#include <limits>
#include <string>

#include "common/secret.h"
#include "common/secure_memory.h"
#include "ldap/kind.h"

namespace wb::ldap {
namespace {

std::uint32_t Le32(std::string_view bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 4; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

std::uint64_t Le64(std::string_view bytes, std::size_t at) {
  return (static_cast<std::uint64_t>(Le32(bytes, at + 4)) << 32) | Le32(bytes, at);
}

int SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 0;
}

// Decodes one UTF-8 sequence at `i` and advances past it; -1 when malformed, overlong, a
// surrogate or beyond U+10FFFF.
long DecodeUtf8(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const int len = SequenceLength(byte(i));
  if (len == 0 || s.size() - i < static_cast<std::size_t>(len)) return -1;
  long cp = len == 1 ? byte(i) : byte(i) & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    if ((byte(i + k) >> 6) != 0x2) return -1;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr long kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  i += static_cast<std::size_t>(len);
  return cp;
}

void PutUnit(SecureString& out, unsigned unit) {
  out.push_back(static_cast<char>(unit & 0xff));
  out.push_back(static_cast<char>(unit >> 8));
}

}  // namespace

std::optional<WallTime> FileTimeToWallTime(long long ticks) {
  if (ticks <= 0) return std::nullopt;
  constexpr long long kUnixEpochTicks = 116444736000000000LL;
  using Ticks = std::chrono::duration<long long, std::ratio<1, 10'000'000>>;
  return WallTimeSinceEpoch<Ticks>(ticks - kUnixEpochTicks);  // no overflow: ticks > 0
}

std::optional<WallTime> AttributeWrittenAt(std::string_view meta, std::uint32_t attid) {
  constexpr std::size_t kHeader = 16;
  constexpr std::size_t kStamp = 48;  // attid, version, time, invocation GUID, two USNs
  if (meta.size() < kHeader || Le32(meta, 0) != 1) return std::nullopt;
  const std::uint64_t count = Le32(meta, 8);
  if ((meta.size() - kHeader) % kStamp != 0 || (meta.size() - kHeader) / kStamp != count) {
    return std::nullopt;
  }
  for (std::size_t at = kHeader; at < meta.size(); at += kStamp) {
    if (Le32(meta, at) != attid) continue;
    const std::uint64_t seconds_since_1601 = Le64(meta, at + 8);
    constexpr std::uint64_t kUnixEpoch = 11644473600;  // 1970-01-01 in seconds since 1601
    if (seconds_since_1601 <= kUnixEpoch ||
        seconds_since_1601 - kUnixEpoch >
            static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
      return std::nullopt;
    }
    return WallTimeSinceEpoch<std::chrono::seconds>(
        static_cast<long long>(seconds_since_1601 - kUnixEpoch));
  }
  return std::nullopt;
}

std::optional<WallTime> ParseGeneralizedTime(std::string_view text) {
  // YYYYMMDDHHMMSS[.fraction]Z, as OpenLDAP writes pwdChangedTime.
  if (text.size() < 15 || text.back() != 'Z') return std::nullopt;
  std::tm tm{};
  if (std::sscanf(std::string(text.substr(0, 14)).c_str(), "%4d%2d%2d%2d%2d%2d", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return WallTimeSinceEpoch<std::chrono::seconds>(static_cast<long long>(timegm(&tm)));
}

std::optional<long long> ParseInteger(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    long long v = std::stoll(*text, &used);
    if (used != text->size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Built in secure memory (locked, out of core dumps, wiped when freed), as every buffer that
// holds a password here.
Result<Secret, Outcome> AdQuotedUtf16(std::string_view utf8) {
  // MakeSecureString: a bare SecureString would keep a short password inside the object, on
  // the stack.
  SecureString out = MakeSecureString((utf8.size() + 2) * 2);
  PutUnit(out, '"');
  for (std::size_t i = 0; i < utf8.size();) {
    long cp = DecodeUtf8(utf8, i);
    if (cp < 0) {
      return MakeOutcome(OutcomeCode::kPolicyViolation, "the new password is not valid UTF-8");
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      PutUnit(out, 0xd800 + static_cast<unsigned>(cp >> 10));
      PutUnit(out, 0xdc00 + static_cast<unsigned>(cp & 0x3ff));
    } else {
      PutUnit(out, static_cast<unsigned>(cp));
    }
  }
  PutUnit(out, '"');
  return Secret(std::string_view(out));
}

}  // namespace wb::ldap
