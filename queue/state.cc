#include "queue/queue.h"

namespace wb::queue {

std::string_view StateName(State state) {
  switch (state) {
    case State::kReceived:
      return "received";
    case State::kReady:
      return "ready";
    case State::kApplying:
      return "applying";
    case State::kSucceeded:
      return "succeeded";
    case State::kRejected:
      return "rejected";
    case State::kFailed:
      return "failed";
    case State::kExpired:
      return "expired";
  }
  return "unknown";
}

}  // namespace wb::queue
