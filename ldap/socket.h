#pragma once
// TCP for the LDAP connection, owned by wbagent rather than libldap so that every phase of
// opening a connection has a deadline (internal to ldap/).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace wb::ldap {

// Connects to host:port within `timeout` and returns a blocking, close-on-exec socket.
Result<int> ConnectTcp(const std::string& host, int port, std::chrono::milliseconds timeout);

// Shuts `fd` down when `deadline` passes before Disarm(): a blocked read or write on it then
// returns at once, whatever library is blocked in it. Joins its thread on destruction.
class DeadlineGuard {
 public:
  DeadlineGuard(int fd, std::chrono::milliseconds timeout);
  ~DeadlineGuard();
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

  void Disarm();
  // True when the deadline passed and the socket was shut down.
  bool fired() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;  // guarded by mu_
  bool fired_ = false;     // guarded by mu_
  std::thread thread_;
};

}  // namespace wb::ldap
