#include "channel/retry_log.h"

#include <fmt/chrono.h>

namespace wb::channel {
namespace {

double Seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace

RetryLog::RetryLog(spdlog::logger& log, const Clock& clock, std::chrono::seconds summary_every)
    : log_(log), clock_(clock), summary_every_(summary_every) {}

void RetryLog::Failure(const Status& error, std::chrono::milliseconds retry_in) {
  const std::string text = error.ToString();
  const auto now = clock_.Monotonic();
  if (failures_ == 0) first_failure_ = clock_.Now();
  ++failures_;
  if (text != last_error_) {
    if (repeats_ > 0) {
      log_.warn("cloud channel: the previous error repeated {} more time(s)", repeats_);
    }
    log_.warn("cloud channel: {}; retrying in {:.1f} s", text, Seconds(retry_in));
    last_error_ = text;
    repeats_ = 0;
    last_warn_ = now;
    return;
  }
  ++repeats_;
  if (now - last_warn_ >= summary_every_) {
    log_.warn(
        "cloud channel: still failing: {} ({} failed attempts since {:%Y-%m-%dT%H:%M:%SZ}); "
        "retrying in {:.1f} s",
        text, failures_, fmt::gmtime(std::chrono::system_clock::to_time_t(first_failure_)),
        Seconds(retry_in));
    repeats_ = 0;
    last_warn_ = now;
    return;
  }
  log_.debug("cloud channel: {}; retrying in {:.1f} s (attempt {})", text, Seconds(retry_in),
             failures_);
}

void RetryLog::Success(std::string_view what) {
  if (failures_ > 0) {
    log_.info("cloud channel: connected to {} after {} failed attempt(s)", what, failures_);
  } else {
    log_.info("cloud channel: connected to {}", what);
  }
  failures_ = 0;
  repeats_ = 0;
  last_error_.clear();
}

}  // namespace wb::channel
