// `wbagent run` as systemd runs it, against a real wbcloud: the sd_notify protocol (READY=1,
// RELOADING=1, STOPPING=1, and WATCHDOG=1 while every thread shows progress, when WatchdogSec=
// is set) through a datagram socket that stands in for systemd's, and `wbagent status` /
// `wbagent queue list` against the live daemon.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/agent/inspect_test_util.h"
#include "tests/e2e/e2e_util.h"

namespace wb::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Receives what the agent sends to $NOTIFY_SOCKET, as systemd's manager would.
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool bound() const { return bound_; }
  const std::filesystem::path& path() const { return path_; }

  // Waits up to `timeout` for a message with the line `line` (e.g. "WATCHDOG=1"); every
  // message received on the way is kept in received().
  bool WaitFor(const std::string& line, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      const std::string message(buf, static_cast<std::size_t>(n));
      received_ += message + "\n---\n";
      if (("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos) return true;
    }
  }
  const std::string& received() const { return received_; }
  // Reads and keeps what was sent so far, so that the next WaitFor sees only what comes later.
  void Drain() {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      received_ += std::string(buf, static_cast<std::size_t>(n)) + "\n---\n";
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool bound_ = false;
  std::string received_;
};

std::string DirectoryToml(const Cloud& cloud, const std::filesystem::path& dir) {
  // Never contacted: the test sends no request. The agent connects to directories lazily.
  return "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\n"
         "urls = [\"ldaps://127.0.0.1:1\"]\nca_file = \"" +
         cloud.ca_file() +
         "\"\nbind_dn = \"cn=wbagent,dc=example,dc=test\"\n"
         "bind_password_file = \"" +
         (dir / "bind.password").string() + "\"\nbase_dn = \"dc=example,dc=test\"\n";
}

TEST(ServiceTest, NotifiesSystemdFeedsTheWatchdogAndReportsStatusWhileRunning) {
  TempDir dir("wbservice");
  ASSERT_TRUE(WriteFile(dir.path() / "bind.password", "pw\n", 0600).ok());
  auto cloud = Cloud::Start(dir.path());
  ASSERT_TRUE(cloud.ok()) << cloud.error().ToString();
  auto agent = Agent::Enroll(
      {.dir = dir.path(), .directory_toml = DirectoryToml(**cloud, dir.path())}, **cloud);
  ASSERT_TRUE(agent.ok()) << agent.error().ToString();
  const std::string config = (*agent)->config().string();

  NotifySocket notify(dir.path() / "notify.sock");
  ASSERT_TRUE(notify.bound()) << std::strerror(errno);
  auto daemon = ChildProcess::Start(
      {WB_WBAGENT_PATH, "run", "--config", config}, dir.path() / "agent.log",
      {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "30000000"}});
  ASSERT_TRUE(daemon.ok()) << daemon.error().ToString();
  const auto log = [&] { return ReadFileOrEmpty(dir.path() / "agent.log"); };

  ASSERT_TRUE(notify.WaitFor("READY=1", seconds(30))) << notify.received() << log();
  // The watchdog checks every 10 s (WatchdogSec/3) and pings while every thread shows
  // progress or waits for work.
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(25))) << notify.received() << log();
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(25))) << notify.received() << log();
  // A reload: RELOADING=1, then READY=1 again, and the pings go on.
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1", seconds(10))) << notify.received() << log();
  ASSERT_TRUE(notify.WaitFor("READY=1", seconds(10))) << notify.received() << log();
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(25))) << notify.received() << log();

  CommandResult status;
  Status connected = WaitUntil(
      [&] {
        status = Wbagent({"status", "-c", config});
        return Contains(status.output, "channel:      connected since") &&
                       Contains(status.output, "HAS NO HEALTHY SERVER")
                   ? Status::Ok()
                   : NotFound(status.output);
      },
      seconds(30), &*daemon);
  ASSERT_TRUE(connected.ok()) << connected.ToString() << log();
  // Connected, but this test's directory (port 1) has no server: the agent found that at
  // start and status fails for it, as monitoring must.
  EXPECT_EQ(status.exit_code, 1) << status.output;
  EXPECT_TRUE(Contains(log(), "directory 'corp': cannot connect as the service account")) << log();
  EXPECT_TRUE(Contains(status.output, "running (pid " + std::to_string(daemon->pid())))
      << status.output;
  EXPECT_TRUE(Contains(status.output, "channel:      connected since")) << status.output;
  EXPECT_TRUE(Contains(status.output, "corp  ldaps://127.0.0.1:1")) << status.output;
  nlohmann::json j = nlohmann::json::parse(Wbagent({"status", "--json", "-c", config}).output);
  EXPECT_EQ(j["connected"], true);
  EXPECT_EQ(j["queue"]["pending"], 0);

  // The queue is held by the daemon; the read-only view still works.
  CommandResult list = Wbagent({"queue", "list", "-c", config});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(Contains(list.output, "no requests")) << list.output;

  const pid_t pid = daemon->pid();
  daemon->Signal(SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", seconds(30))) << notify.received() << log();
  auto exit_code = daemon->Wait(seconds(30));
  ASSERT_TRUE(exit_code.ok()) << log();
  EXPECT_EQ(*exit_code, 0) << log();
  CommandResult after = Wbagent({"status", "-c", config});
  EXPECT_EQ(after.exit_code, 1) << after.output;
  EXPECT_TRUE(
      Contains(after.output, "NOT RUNNING: the agent (pid " + std::to_string(pid) + ") stopped"))
      << after.output;
}

// The threads of process `pid` whose name starts with `prefix` (/proc/PID/task/TID/comm).
std::vector<pid_t> ThreadsNamed(pid_t pid, const std::string& prefix) {
  std::vector<pid_t> found;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    std::getline(comm, line);
    if (line.starts_with(prefix)) {
      found.push_back(static_cast<pid_t>(std::stoi(task.path().filename().string())));
    }
  }
  return found;
}

// Stops one thread of another process, and only that one, where it stands, as a hung call
// would: ptrace seizes and interrupts it; the rest of the process runs on. Resumes it when
// destroyed or thawed.
class FrozenThread {
 public:
  explicit FrozenThread(pid_t tid) : tid_(tid) {
    if (::ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0) return;
    if (::ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0) return;
    int status = 0;
    frozen_ = ::waitpid(tid_, &status, __WALL) == tid_ && WIFSTOPPED(status);
  }
  ~FrozenThread() { Thaw(); }
  FrozenThread(const FrozenThread&) = delete;
  FrozenThread& operator=(const FrozenThread&) = delete;
  bool frozen() const { return frozen_; }
  // The system call the thread is stopped in (/proc/TID/syscall), -1 when in none.
  long SystemCall() const {
    const std::string text =
        ReadFileOrEmpty("/proc/self/task/../../" + std::to_string(tid_) + "/syscall");
    return text.empty() || text[0] == 'r' ? -1 : std::stol(text);
  }
  void Thaw() {
    if (std::exchange(frozen_, false)) ::ptrace(PTRACE_DETACH, tid_, nullptr, 0);
  }

 private:
  pid_t tid_;
  bool frozen_ = false;
};

// The honest watchdog: WATCHDOG=1 stops while a worker is stuck in a directory call, the log
// names it once, and the pings come back when it moves again. The directory is a server that
// accepts TCP and never answers, so a worker spends each attempt waiting in the TLS handshake;
// the test freezes it there (ptrace on its thread alone, beyond what connect_timeout bounds),
// while the channel's thread and the main loop run on. Also RELOADING=1 and READY=1 at a
// reload, and STOPPING=1.
TEST(ServiceTest, AWorkerStuckInADirectoryCallStopsTheWatchdogPingsUntilItMovesAgain) {
  TempDir dir("wbwatchdog");
  ASSERT_TRUE(WriteFile(dir.path() / "bind.password", "pw\n", 0600).ok());
  // Accepts connections (the kernel's backlog) and never answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(silent, 64), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  auto cloud = Cloud::Start(dir.path());
  ASSERT_TRUE(cloud.ok()) << cloud.error().ToString();
  // Short directory timeouts: the longest directory call is 1 + 2 x 1 s, so a worker may go
  // 3 s (plus 15 s for the queue's and the audit trail's writes) without a beat.
  std::string directory = DirectoryToml(**cloud, dir.path());
  directory.replace(directory.find("127.0.0.1:1\""), 12, "127.0.0.1:" + port + "\"");
  directory += "connect_timeout = 1\noperation_timeout = 1\n";
  auto agent = Agent::Enroll({.dir = dir.path(), .directory_toml = directory}, **cloud);
  ASSERT_TRUE(agent.ok()) << agent.error().ToString();
  const std::string config = (*agent)->config().string();

  NotifySocket notify(dir.path() / "notify.sock");
  ASSERT_TRUE(notify.bound()) << std::strerror(errno);
  // WatchdogSec=3: the watchdog checks every second.
  auto daemon = ChildProcess::Start(
      {WB_WBAGENT_PATH, "run", "--config", config}, dir.path() / "agent.log",
      {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "3000000"}});
  ASSERT_TRUE(daemon.ok()) << daemon.error().ToString();
  const auto log = [&] { return ReadFileOrEmpty(dir.path() / "agent.log"); };
  ASSERT_TRUE(notify.WaitFor("READY=1", seconds(30))) << notify.received() << log();
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(5))) << notify.received() << log();

  daemon->Signal(SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1", seconds(10))) << notify.received() << log();
  ASSERT_TRUE(notify.WaitFor("READY=1", seconds(10))) << notify.received() << log();

  // Idle: every thread waits for work, and the pings go on past the workers' deadline.
  const auto idle_until = std::chrono::steady_clock::now() + seconds(20);
  while (std::chrono::steady_clock::now() < idle_until) {
    ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(3))) << notify.received() << log();
  }
  EXPECT_FALSE(Contains(log(), "watchdog:")) << log();

  // A reset for the silent directory: a worker tries it, again and again (transient).
  const std::string password = "N3w-Passw0rd!";
  CommandResult submitted =
      (*cloud)->Submit({"--user", "alice", "--kind", "uid", "--op", "reset"}, &password);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;

  // Catch a worker inside the directory call: frozen anywhere but waiting for work.
  std::unique_ptr<FrozenThread> frozen;
  const auto catch_until = std::chrono::steady_clock::now() + seconds(60);
  while (!frozen && std::chrono::steady_clock::now() < catch_until) {
    for (pid_t worker : ThreadsNamed(daemon->pid(), "wb-worker-")) {
      auto candidate = std::make_unique<FrozenThread>(worker);
      ASSERT_TRUE(candidate->frozen()) << std::strerror(errno);
      const long call = candidate->SystemCall();
      // restart_syscall: a wait (for work, too) that the freeze interrupted.
      if (call != SYS_futex && call != SYS_restart_syscall && call != -1) {
        frozen = std::move(candidate);
        break;
      }
    }
    notify.Drain();
    if (!frozen) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(frozen) << "no worker seen inside a directory call" << log();

  const std::string stuck = "has shown no progress";
  Status named = WaitUntil(
      [&] {
        // Read as systemd does: a full notify socket would block the agent's sd_notify.
        notify.Drain();
        return Contains(log(), stuck) ? Status::Ok() : NotFound("not yet");
      },
      seconds(40), &*daemon);
  ASSERT_TRUE(named.ok()) << named.ToString() << " (the worker was frozen in system call "
                          << frozen->SystemCall() << ")" << log();
  EXPECT_TRUE(Contains(log(), "watchdog: worker ")) << log();
  notify.Drain();  // the pings sent before the stall was found
  EXPECT_FALSE(notify.WaitFor("WATCHDOG=1", seconds(5)))
      << "a ping while a worker is stuck: " << notify.received();
  EXPECT_TRUE(Contains(log(), "systemd restarts the agent")) << log();
  std::size_t times = 0;  // named once, not at every check
  for (std::size_t at = log().find(stuck); at != std::string::npos;
       at = log().find(stuck, at + 1)) {
    ++times;
  }
  EXPECT_EQ(times, 1u) << log();

  frozen->Thaw();
  EXPECT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(10))) << notify.received() << log();
  EXPECT_TRUE(Contains(log(), "shows progress again")) << log();

  daemon->Signal(SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", seconds(30))) << notify.received() << log();
  auto exit_code = daemon->Wait(seconds(30));
  ASSERT_TRUE(exit_code.ok()) << log();
  EXPECT_EQ(*exit_code, 0) << log();
  ::close(silent);
}

// LimitCORE=0 covers only systemd's starts: `wbagent run` started any other way (here, by a
// test, with the default core limit) must still be non-dumpable. status.json carries what the
// kernel says (prctl PR_GET_DUMPABLE inside the daemon).
TEST(ServiceTest, TheRunningDaemonIsNotDumpableHoweverItWasStarted) {
  TempDir dir("wbdumpable");
  ASSERT_TRUE(WriteFile(dir.path() / "bind.password", "pw\n", 0600).ok());
  auto cloud = Cloud::Start(dir.path());
  ASSERT_TRUE(cloud.ok()) << cloud.error().ToString();
  auto agent = Agent::Enroll(
      {.dir = dir.path(), .directory_toml = DirectoryToml(**cloud, dir.path())}, **cloud);
  ASSERT_TRUE(agent.ok()) << agent.error().ToString();
  NotifySocket notify(dir.path() / "notify.sock");
  ASSERT_TRUE(notify.bound()) << std::strerror(errno);
  auto daemon =
      ChildProcess::Start({WB_WBAGENT_PATH, "run", "--config", (*agent)->config().string()},
                          dir.path() / "agent.log", {{"NOTIFY_SOCKET", notify.path().string()}});
  ASSERT_TRUE(daemon.ok()) << daemon.error().ToString();
  ASSERT_TRUE(notify.WaitFor("READY=1", seconds(30)))
      << notify.received() << ReadFileOrEmpty(dir.path() / "agent.log");

  const auto status =
      nlohmann::json::parse(ReadFileOrEmpty(dir.path() / "state-agent-1" / "status.json"));
  EXPECT_EQ(status["pid"], daemon->pid());
  EXPECT_EQ(status["dumpable"], false) << status.dump();

  daemon->Signal(SIGTERM);
  auto exit_code = daemon->Wait(seconds(30));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace wb::testing
