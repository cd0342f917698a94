#pragma once
// Test support for end-to-end tests: a real wbcloud, a real wbagent enrolled with it, and a
// config pointing the agent at a real directory.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/slapd_server.h"

// Whether the wbagent of this build wipes what it frees (common/wipe_on_free.h): every build
// but a ThreadSanitizer one, whose allocator has no fill of freed blocks. The memory tests
// exist only where it does.
#if defined(__SANITIZE_THREAD__)
#define WB_E2E_AGENT_WIPES_ON_FREE 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WB_E2E_AGENT_WIPES_ON_FREE 0
#endif
#endif
#ifndef WB_E2E_AGENT_WIPES_ON_FREE
#define WB_E2E_AGENT_WIPES_ON_FREE 1
#endif

namespace wb::testing {

// A running `wbcloud serve` on a free loopback port, with its state in `dir`.
class Cloud {
 public:
  // `serve_args` are added to `wbcloud serve` (e.g. {"--takeover", "2"}).
  static Result<std::unique_ptr<Cloud>> Start(const std::filesystem::path& dir,
                                              std::vector<std::string> serve_args = {});
  const std::filesystem::path& state() const { return state_; }
  std::string ca_file() const { return (state_ / "ca.pem").string(); }
  std::string agent_url() const;
  Result<std::string> Token() const;
  // `wbcloud submit ... --wait`: the exit code and the printed JSON.
  CommandResult Submit(std::vector<std::string> args, const std::string* password) const;
  // `wbcloud validate ... --password-file -`: would the agent accept `password`? The exit code
  // and the printed JSON (its "outcome", "reason", "note"; OutputJson reads it).
  CommandResult Validate(std::vector<std::string> args, const std::string& password) const;
  // The policy summary the first agent that sent one sent, as `wbcloud status --json` shows it;
  // waits up to `timeout` for one (NotFound when none came).
  Result<nlohmann::json> PolicySummary(std::chrono::seconds timeout) const;
  // `wbcloud status --json` (null when it fails).
  nlohmann::json StatusJson() const;
  // `wbcloud status`, as an administrator reads it.
  std::string StatusText() const;
  Status Stop();
  Status Restart();

 private:
  Status Launch();
  std::filesystem::path state_;
  std::vector<std::string> serve_args_;
  int port_ = 0;
  ChildProcess process_;
};

// A [[directory]] table "corp" for `slapd`, binding as its service account with the password
// in "bind.password" (beside the agent's config), looking users up by uid and mail.
std::string SlapdDirectoryToml(const SlapdServer& slapd, int operation_timeout_seconds);

// A config for `wbagent run` in `dir`; `directory_toml` is the [[directory]] table.
struct AgentSetup {
  std::string agent_id = "agent-1";
  std::filesystem::path dir;
  std::string directory_toml;
};

class Agent {
 public:
  // Writes the config, enrolls with `cloud`; does not start.
  static Result<std::unique_ptr<Agent>> Enroll(const AgentSetup& setup, const Cloud& cloud);
  // Starts `wbagent run` and waits (20 s at most) until this run has connected to the cloud.
  Status Start();
  // Starts `wbagent run` and returns at once.
  Status Launch();
  // SIGTERM and wait; returns the exit code.
  Result<int> Stop();
  void Kill();
  void Signal(int sig) const { process_.Signal(sig); }
  bool running() { return process_.running(); }
  const std::filesystem::path& config() const { return config_; }
  const std::filesystem::path& state() const { return state_; }
  std::filesystem::path log() const { return dir_ / ("wbagent-" + id_ + ".log"); }
  // `wbagent ARGS --config CONFIG`; `input` (when given) is its standard input.
  CommandResult Wbagent(std::vector<std::string> args, const std::string* input = nullptr) const;
  // Where `secret` appears, in UTF-8 or UTF-16LE, among the files of the state directory
  // (queue database and its WAL, audit trail, status) and the agent's log: Ok when nowhere,
  // else an error naming each file.
  Status FindSecret(const std::string& secret) const;
  // Where `secret` appears, in UTF-8 or UTF-16LE, in the running agent's writable memory
  // (its heap, stacks and data; /proc/PID/mem): Ok when nowhere, else an error naming each
  // mapping. A request's password may stay until its worker has let it go, so this waits up
  // to `patience` for it to go.
  Status FindSecretInMemory(const std::string& secret,
                            std::chrono::milliseconds patience = std::chrono::seconds(5)) const;
  // `wbagent queue show ID --json`'s record (null when unknown).
  nlohmann::json QueueRecord(const std::string& id) const;
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  std::filesystem::path dir_;
  std::filesystem::path config_;
  std::filesystem::path state_;
  ChildProcess process_;
};

// What an end-to-end suite runs against one directory: a wbcloud and enrolled, running agents.
struct Deployment {
  std::unique_ptr<Cloud> cloud;
  std::vector<std::unique_ptr<Agent>> agents;  // in the order of `agent_ids`
};

// Writes `bind_password` to dir/bind.password (what `directory_toml` names), starts wbcloud
// with `serve_args`, then enrolls and starts one agent per id.
Result<Deployment> Deploy(const std::filesystem::path& dir, const std::string& bind_password,
                          const std::string& directory_toml,
                          const std::vector<std::string>& agent_ids = {"agent-1"},
                          std::vector<std::string> serve_args = {});

// The JSON object a command printed after any text before its first '{' (e.g. wbcloud's
// request id on stderr); an empty object when there is none.
nlohmann::json OutputJson(const CommandResult& result);

}  // namespace wb::testing
