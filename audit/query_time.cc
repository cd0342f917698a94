// --since/--until: absolute UTC times, or times relative to the clock (audit.h,
// ParseQueryTime).
#include <chrono>
#include <string>

#include "audit/audit.h"

namespace wb::audit {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

constexpr std::size_t kMaxCountDigits = 5;  // 99999 days is far past any trail

Status BadQueryTime(std::string_view text) {
  std::string message = "'";
  message.append(text.substr(0, 64))
      .append(
          "' is not a time: give a UTC time (YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z]), an age such as "
          "30m, 24h or 7d, or now, today or yesterday");
  return InvalidArgument(message);
}

// 00:00:00 UTC of the day `days_back` days before the day of `now`.
WallTime StartOfDay(WallTime now, int days_back) {
  return std::chrono::floor<days>(now) - days(days_back);
}

// "30m", "24h", "7d": nullopt when `text` is not of that form.
std::optional<WallTime::duration> ParseAge(std::string_view text) {
  if (text.size() < 2 || text.size() > kMaxCountDigits + 1) return std::nullopt;
  long count = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    count = count * 10 + (c - '0');
  }
  if (count == 0) return std::nullopt;
  switch (text.back()) {
    case 'm':
      return minutes(count);
    case 'h':
      return hours(count);
    case 'd':
      return days(count);
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<WallTime> ParseQueryTime(std::string_view text, const Clock& clock) {
  const WallTime now = clock.Now();
  if (text == "now") return now;
  if (text == "today") return StartOfDay(now, 0);
  if (text == "yesterday") return StartOfDay(now, 1);
  if (auto age = ParseAge(text)) return now - *age;
  auto absolute = ParseTime(text);
  if (absolute.ok()) return absolute;
  // A date-like text keeps ParseTime's more precise message (e.g. the range).
  if (!text.empty() && text[0] >= '0' && text[0] <= '9' && text.find('-') != text.npos) {
    return absolute.error();
  }
  return BadQueryTime(text);
}

}  // namespace wb::audit
