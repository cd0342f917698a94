#include "ldap/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace wb::ldap {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// One address: non-blocking connect, poll for completion, then back to blocking.
Result<int> ConnectOne(const addrinfo& ai, Clock::time_point deadline) {
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    return Status(Code::kUnavailable, std::string("connect: ") + std::strerror(err));
  }
  pollfd p{fd, POLLOUT, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, RemainingMs(deadline));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    ::close(fd);
    return Status(Code::kTimeout, "TCP connect timed out");
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (ready < 0 || err != 0) {
    ::close(fd);
    return Status(Code::kUnavailable, std::string("connect: ") + std::strerror(err ? err : errno));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

Result<int> ConnectTcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    return Status(Code::kUnavailable, "cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
  Status last = Unavailable("no address for " + host);
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    auto fd = ConnectOne(*ai, deadline);
    if (fd.ok()) return fd;
    last = fd.error();
    if (RemainingMs(deadline) == 0) break;
  }
  return last;
}

DeadlineGuard::DeadlineGuard(int fd, std::chrono::milliseconds timeout) {
  thread_ = std::thread([this, fd, deadline = Clock::now() + timeout] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [this] { return disarmed_; })) {
      fired_ = true;
      ::shutdown(fd, SHUT_RDWR);
    }
  });
}

DeadlineGuard::~DeadlineGuard() {
  Disarm();
  thread_.join();
}

void DeadlineGuard::Disarm() {
  {
    std::lock_guard lock(mu_);
    disarmed_ = true;
  }
  cv_.notify_one();
}

bool DeadlineGuard::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

}  // namespace wb::ldap
