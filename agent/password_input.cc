#include "agent/password_input.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure_memory.h"

namespace wb::agent {
namespace {

// Turns terminal echo off for its lifetime when stdin is a terminal, so that the password is
// not shown as it is typed.
class NoEcho {
 public:
  explicit NoEcho(std::string_view prompt) {
    if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    std::fprintf(stderr, "%.*s: ", static_cast<int>(prompt.size()), prompt.data());
  }
  ~NoEcho() {
    if (!active_) return;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    std::fputs("\n", stderr);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

}  // namespace

Result<Secret> ReadSecretLineFromStdin(std::string_view prompt, std::string_view noun_view) {
  NoEcho no_echo(prompt);
  const std::string noun(noun_view);
  std::vector<char, SecureAllocator<char>> buf(kMaxPasswordBytes + 1);
  std::size_t size = 0;
  bool line_end = false;
  while (!line_end && size < buf.size()) {
    const ssize_t n = ::read(STDIN_FILENO, buf.data() + size, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read the " + noun + " from standard input");
    if (n == 0) break;
    if (buf[size] == '\n') {
      line_end = true;
    } else {
      ++size;
    }
  }
  if (!line_end && size == buf.size()) {
    return InvalidArgument("the " + noun + " on standard input is longer than 1024 bytes");
  }
  if (size > 0 && buf[size - 1] == '\r') --size;
  if (size == 0) return InvalidArgument("no " + noun + " on standard input");
  return Secret(std::string_view(buf.data(), size));
}

}  // namespace wb::agent
