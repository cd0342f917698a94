#pragma once
#include <thread>

namespace wb::testing {

template <typename Fn>
Status WaitUntil(Fn ready, std::chrono::milliseconds timeout, ChildProcess* child) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = Status(Code::kTimeout, "not ready");
  while (std::chrono::steady_clock::now() < deadline) {
    last = ready();
    if (last.ok()) return last;
    if (child != nullptr && !child->running()) {
      return Unavailable("process exited before it was ready: " + last.ToString());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status(Code::kTimeout,
                "not ready within " + std::to_string(timeout.count()) + " ms: " + last.ToString());
}

}  // namespace wb::testing
