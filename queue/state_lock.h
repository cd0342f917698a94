#pragma once
// An exclusive lock on a state directory, so two agents never share one queue.
//
// flock(2) on state_dir/queue.lock: the kernel drops it when the holder exits, even by
// SIGKILL, so there is no stale lock to clean up. The file holds the holder's pid for the
// refusal message. flock locks belong to an open file description, so a second StateLock in
// the same process is refused too.

#include <filesystem>

#include "common/status.h"

namespace wb::queue {

class StateLock {
 public:
  // kFailedPrecondition naming the directory (and the holder's pid, if known) when another
  // holder has it.
  static Result<StateLock> Acquire(const std::filesystem::path& state_dir);

  StateLock(StateLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StateLock& operator=(StateLock&&) = delete;
  StateLock(const StateLock&) = delete;
  ~StateLock();

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

inline constexpr char kLockFileName[] = "queue.lock";

}  // namespace wb::queue
