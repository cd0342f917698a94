#pragma once
// Words for a clock that differs from the cloud's: the amount and direction in seconds, and
// where to look. Every message that refuses a request for its time, or reports the skew,
// uses them, so an administrator never has to subtract epoch numbers.

#include <chrono>
#include <string>

namespace wb {

// What to check when this host's clock is wrong.
inline constexpr char kTimeSyncHint[] =
    "check this host's time synchronisation: `timedatectl status` must say \"System clock "
    "synchronized: yes\"; see `chronyc tracking` (chrony) or `ntpq -p` (ntpd)";

// "412 s" for a duration, rounded towards zero, without its sign.
inline std::string SecondsText(std::chrono::system_clock::duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return std::to_string(s < 0 ? -s : s) + " s";
}

}  // namespace wb
