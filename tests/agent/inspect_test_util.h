#pragma once
// Shared by the tests of `wbagent status` and `wbagent queue`: a temp dir with a valid config,
// its state directory, a queue opened there as the daemon opens it, and a way to run the real
// wbagent binary (WB_WBAGENT_PATH).

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "queue/queue.h"
#include "tests/support/process.h"

namespace wb::testing {

inline bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// `wbagent ARGS...`, stdout and stderr together.
inline CommandResult Wbagent(std::vector<std::string> args) {
  args.insert(args.begin(), WB_WBAGENT_PATH);
  return RunCommand(args);
}

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFile(dir_.path() / "ca.pem", "not parsed by check-config\n").ok());
    ASSERT_TRUE(WriteFile(dir_.path() / "bind.password", "pw\n", 0600).ok());
    ASSERT_TRUE(WriteFile(config(), ConfigText()).ok());
  }

  std::filesystem::path config() const { return dir_.path() / "wbagent.toml"; }
  std::filesystem::path state() const { return dir_.path() / "state"; }

  std::string ConfigText() const {
    return "[agent]\nid = \"agent-1\"\nstate_dir = \"" + state().string() +
           "\"\n\n[cloud]\nurl = \"wss://cloud.example.test/agent\"\nca_file = \"ca.pem\"\n\n"
           "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\n"
           "urls = [\"ldaps://127.0.0.1:636\"]\nca_file = \"ca.pem\"\n"
           "bind_dn = \"cn=wbagent,dc=example,dc=test\"\n"
           "bind_password_file = \"bind.password\"\nbase_dn = \"dc=example,dc=test\"\n";
  }

  // Opens the queue read-write, as the running daemon holds it (with its lock), so the
  // commands are tested against a queue in use.
  void OpenQueue() {
    queue::Options options;
    options.state_dir = state();
    options.credentials_directory = std::filesystem::path();  // not the environment's
    auto q = queue::Queue::Open(options, clock_);
    ASSERT_TRUE(q.ok()) << q.error().ToString();
    queue_ = std::move(*q);
  }

  // A distinctive password per request: a byte scan of the output finds any copy.
  static std::string PasswordFor(const std::string& id) { return "Pw-" + id + "-S3cr3t!x9"; }

  // A reset of `account`'s password; `change` makes it a change (old and new password).
  // `requester_json` replaces the requester the agent would store.
  void Enqueue(const std::string& id, const std::string& account, bool change = false,
               const std::string& requester_json = "") {
    queue::Request r;
    r.info.id = id;
    r.info.tenant = "contoso";
    r.info.correlation_id = "corr-" + id;
    r.info.operations.reset = !change;
    r.info.operations.change = change;
    r.info.operations.unlock = !change;
    r.info.target = account + "@corp.example.com";
    r.info.target_kind = "upn";
    r.info.account_key = account;
    r.info.issued_at = clock_.Now();
    r.info.expires_at = clock_.Now() + std::chrono::hours(1);
    // As ToQueueRequest (agent/request_mapping.cc) stores it.
    r.info.requester_json = R"({"type":"self","id":")" + account +
                            R"(@corp.example.com","verified_by":["sms","authenticator_app"]})";
    if (!requester_json.empty()) r.info.requester_json = requester_json;
    r.new_password = Secret(PasswordFor(id));
    if (change) r.old_password = Secret(PasswordFor(id + "-old"));
    auto result = queue_->Enqueue(r);
    ASSERT_TRUE(result.ok()) << result.error().ToString();
  }

  SystemClock clock_;
  TempDir dir_{"wbinspect"};
  std::unique_ptr<queue::Queue> queue_;
};

}  // namespace wb::testing
