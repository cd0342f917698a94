#include "tests/e2e/e2e_util.h"

#include <signal.h>

namespace wb::testing {
namespace {

constexpr char kWbcloud[] = WB_WBCLOUD_PATH;
constexpr char kWbagent[] = WB_WBAGENT_PATH;

Status FileAppears(const std::filesystem::path& p) {
  return std::filesystem::exists(p) ? Status::Ok() : NotFound(p.string());
}

}  // namespace

Result<std::unique_ptr<Cloud>> Cloud::Start(const std::filesystem::path& dir) {
  auto cloud = std::make_unique<Cloud>();
  cloud->state_ = dir / "cloud";
  cloud->port_ = FreeLoopbackPort();
  WB_RETURN_IF_ERROR(cloud->Launch());
  return cloud;
}

Status Cloud::Launch() {
  auto child = ChildProcess::Start({kWbcloud, "serve", "--state", state_.string(), "--listen",
                                    "127.0.0.1:" + std::to_string(port_), "--lease", "5"},
                                   state_.parent_path() / "wbcloud.log");
  if (!child.ok()) return child.error();
  process_ = std::move(*child);
  // Both exist only once the server listens; the URL file may come after the admin socket.
  return WaitUntil(
      [&] {
        WB_RETURN_IF_ERROR(FileAppears(state_ / "admin.sock"));
        return agent_url().empty() ? NotFound("agent-url not written yet") : Status::Ok();
      },
      std::chrono::seconds(15), &process_);
}

Status Cloud::Stop() {
  process_.Stop();
  std::filesystem::remove(state_ / "admin.sock");
  return Status::Ok();
}

Status Cloud::Restart() {
  WB_RETURN_IF_ERROR(Stop());
  return Launch();
}

std::string Cloud::agent_url() const {
  std::string url = ReadFileOrEmpty(state_ / "agent-url");
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  return url;
}

Result<std::string> Cloud::Token() const {
  CommandResult r = RunCommand({kWbcloud, "token", "create", "--state", state_.string()});
  if (r.exit_code != 0) return Internal("token create: " + r.output);
  std::string token = r.output;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

CommandResult Cloud::Submit(std::vector<std::string> args, const std::string* password) const {
  std::vector<std::string> argv = {kWbcloud, "submit", "--state", state_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (password != nullptr) {
    argv.push_back("--password-file");
    argv.push_back("-");
  }
  return RunCommand(argv, {}, password);
}

Result<std::unique_ptr<Agent>> Agent::Enroll(const AgentSetup& setup, const Cloud& cloud) {
  auto agent = std::make_unique<Agent>();
  agent->id_ = setup.agent_id;
  agent->dir_ = setup.dir;
  agent->state_ = setup.dir / ("state-" + setup.agent_id);
  agent->config_ = setup.dir / ("wbagent-" + setup.agent_id + ".toml");
  const std::string toml = "[agent]\nid = \"" + setup.agent_id + "\"\nstate_dir = \"" +
                           agent->state_.string() + "\"\n\n[cloud]\nurl = \"" + cloud.agent_url() +
                           "\"\nca_file = \"" + cloud.ca_file() + "\"\nheartbeat_interval = 2\n\n" +
                           setup.directory_toml +
                           "\n[queue]\nmax_in_flight = 4\n\n[log]\nformat = \"json\"\n";
  WB_RETURN_IF_ERROR(WriteFile(agent->config_, toml));
  auto token = cloud.Token();
  if (!token.ok()) return token.error();
  CommandResult r = agent->Wbagent({"register", "--token", *token});
  if (r.exit_code != 0) return Internal("register failed: " + r.output);
  return agent;
}

CommandResult Agent::Wbagent(std::vector<std::string> args) const {
  std::vector<std::string> argv = {kWbagent};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(config_.string());
  return RunCommand(argv);
}

Status Agent::Start() {
  auto child = ChildProcess::Start({kWbagent, "run", "--config", config_.string()}, log());
  if (!child.ok()) return child.error();
  process_ = std::move(*child);
  return WaitUntil(
      [&] {
        return ReadFileOrEmpty(log()).find("connected to the cloud") != std::string::npos
                   ? Status::Ok()
                   : NotFound("not connected yet");
      },
      std::chrono::seconds(20), &process_);
}

Result<int> Agent::Stop() {
  process_.Signal(SIGTERM);
  return process_.Wait(std::chrono::seconds(30));
}

void Agent::Kill() {
  process_.Signal(SIGKILL);
  (void)process_.Wait(std::chrono::seconds(5));
}

}  // namespace wb::testing
