// `wbagent run` as systemd runs it, against a real wbcloud: the sd_notify protocol (READY=1,
// WATCHDOG=1 every tick when WatchdogSec= is set, STOPPING=1) through a datagram socket that
// stands in for systemd's, and `wbagent status` / `wbagent queue list` against the live daemon.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

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
  // The main loop ticks every 5 s and feeds the watchdog after each tick.
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", seconds(25))) << notify.received() << log();
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
  EXPECT_TRUE(Contains(log(), "directory 'corp': cannot connect as the service account"))
      << log();
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
