#pragma once
// Test support: child processes the fixtures start (slapd, samba, socat, wbagent, wbcloud).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace wb::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or not started
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (looked up in PATH) to completion and captures its output. Extra environment
// entries are added to the inherited environment. Stdin is /dev/null, or `input` when given.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& extra_env = {},
                         const std::string* input = nullptr);

// A background process, killed (SIGTERM, then SIGKILL after a grace period) when destroyed.
// Its stdout and stderr go to `log_file`.
class ChildProcess {
 public:
  static Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                    const std::filesystem::path& log_file,
                                    const std::map<std::string, std::string>& extra_env = {});
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();  // reaps the child if it has exited
  void Signal(int sig) const;
  // Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit code (-1 if signalled).
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Waits up to `timeout` for the child to exit on its own.
  Result<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Polls `ready` every 20 ms until it returns OK or `timeout` passes; returns its last status.
// `child`, when given, must stay running: its early exit ends the wait with an error.
template <typename Fn>
Status WaitUntil(Fn ready, std::chrono::milliseconds timeout, ChildProcess* child = nullptr);

// A fresh directory under $TMPDIR, removed with its contents when destroyed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "wbtest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

// True when CI=true is in the environment: a server that cannot start fails the test.
bool InCi();

// Writes `content` to `path` with `mode`.
Status WriteFile(const std::filesystem::path& path, const std::string& content, mode_t mode = 0644);
std::string ReadFileOrEmpty(const std::filesystem::path& path);

}  // namespace wb::testing

#include "tests/support/process_inl.h"
