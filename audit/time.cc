// The record's time format: RFC 3339 in UTC with milliseconds.
#include <cstdio>
#include <ctime>

#include "audit/audit.h"
#include "audit/internal/record_json.h"

namespace wb::audit {
namespace {

using std::chrono::milliseconds;

// Reads exactly `width` digits at `pos`.
bool Digits(std::string_view text, std::size_t& pos, std::size_t width, int& out) {
  if (pos + width > text.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += width;
  return true;
}

bool Expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// Fraction of a second: one or more digits, of which the first three count.
bool Fraction(std::string_view text, std::size_t& pos, int& millis) {
  const std::size_t start = pos;
  millis = 0;
  int scale = 100;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    millis += (text[pos] - '0') * scale;
    scale /= 10;
    ++pos;
  }
  return pos > start;
}

constexpr std::time_t kLatestTime = 4102444800;  // 2100-01-01T00:00:00Z

Status BadTime(std::string_view text) {
  std::string message = "'";
  message.append(text.substr(0, 64))
      .append("' is not a UTC time (YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z])");
  return InvalidArgument(message);
}

}  // namespace

std::string FormatTime(WallTime time) {
  const auto ms = std::chrono::floor<milliseconds>(time.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

Result<WallTime> ParseTime(std::string_view text) {
  std::size_t pos = 0;
  std::tm tm{};
  int year = 0, month = 0, day = 0, millis = 0;
  if (!Digits(text, pos, 4, year) || !Expect(text, pos, '-') || !Digits(text, pos, 2, month) ||
      !Expect(text, pos, '-') || !Digits(text, pos, 2, day)) {
    return BadTime(text);
  }
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    ++pos;
    if (!Digits(text, pos, 2, tm.tm_hour) || !Expect(text, pos, ':') ||
        !Digits(text, pos, 2, tm.tm_min)) {
      return BadTime(text);
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!Digits(text, pos, 2, tm.tm_sec)) return BadTime(text);
      if (pos < text.size() && text[pos] == '.' && !Fraction(text, ++pos, millis)) {
        return BadTime(text);
      }
    }
  }
  if (pos < text.size() && text[pos] == 'Z') ++pos;
  if (pos != text.size()) return BadTime(text);
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  const std::tm asked = tm;
  const std::time_t secs = timegm(&tm);
  // timegm normalises 2026-02-30 to March: a changed field means the date does not exist.
  if (secs == static_cast<std::time_t>(-1) || tm.tm_mday != asked.tm_mday ||
      tm.tm_mon != asked.tm_mon || tm.tm_hour != asked.tm_hour || tm.tm_min != asked.tm_min ||
      tm.tm_sec != asked.tm_sec) {
    return BadTime(text);
  }
  // WallTime counts nanoseconds in 64 bits: 1970 to 2262 at most. The protocol's times end in
  // 2100 (docs/protocol.md, section 1), and so do the times an audit record may hold.
  if (secs < 0 || secs > kLatestTime) {
    return InvalidArgument("'" + std::string(text.substr(0, 64)) +
                           "' is outside 1970-01-01 to 2100-01-01");
  }
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::seconds(secs) +
                                                                 milliseconds(millis)));
}

namespace internal {

WallTime TruncateToMillis(WallTime time) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(
      std::chrono::floor<milliseconds>(time.time_since_epoch())));
}

}  // namespace internal
}  // namespace wb::audit
