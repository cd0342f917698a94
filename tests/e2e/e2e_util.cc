#include "tests/e2e/e2e_util.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "tests/support/process_memory.h"

namespace wb::testing {
namespace {

// The binaries of this build, unless the environment names others: a long run (the torture
// test's long mode) can use copies while the build tree is rebuilt.
std::string BinaryPath(const char* variable, const char* built) {
  const char* given = std::getenv(variable);
  return given != nullptr && *given != '\0' ? given : built;
}
const std::string kWbcloud = BinaryPath("WB_E2E_WBCLOUD", WB_WBCLOUD_PATH);
const std::string kWbagent = BinaryPath("WB_E2E_WBAGENT", WB_WBAGENT_PATH);

Status FileAppears(const std::filesystem::path& p) {
  return std::filesystem::exists(p) ? Status::Ok() : NotFound(p.string());
}

}  // namespace

std::string SlapdDirectoryToml(const SlapdServer& slapd, int operation_timeout_seconds) {
  return "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\nurls = [\"" + slapd.ldaps_url() +
         "\"]\nca_file = \"" + slapd.ca_file().string() + "\"\nbind_dn = \"" +
         SlapdServer::service_dn() + "\"\nbind_password_file = \"bind.password\"\nbase_dn = \"" +
         SlapdServer::base_dn() +
         "\"\nlookup_attributes = [\"uid\", \"mail\"]\nppolicy_default_dn = \"" +
         SlapdServer::policy_dn() + "\"\nconnect_timeout = 2\noperation_timeout = " +
         std::to_string(operation_timeout_seconds) + "\n";
}

Result<std::unique_ptr<Cloud>> Cloud::Start(const std::filesystem::path& dir,
                                            std::vector<std::string> serve_args) {
  auto cloud = std::make_unique<Cloud>();
  cloud->state_ = dir / "cloud";
  cloud->serve_args_ = std::move(serve_args);
  cloud->port_ = FreeLoopbackPort();
  WB_RETURN_IF_ERROR(cloud->Launch());
  return cloud;
}

Status Cloud::Launch() {
  std::vector<std::string> argv = {kWbcloud,   "serve",
                                   "--state",  state_.string(),
                                   "--listen", "127.0.0.1:" + std::to_string(port_),
                                   "--lease",  "5"};
  argv.insert(argv.end(), serve_args_.begin(), serve_args_.end());
  auto child = ChildProcess::Start(argv, state_.parent_path() / "wbcloud.log");
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

CommandResult Cloud::Validate(std::vector<std::string> args, const std::string& password) const {
  std::vector<std::string> argv = {kWbcloud, "validate", "--state", state_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--password-file", "-"});
  return RunCommand(argv, {}, &password);
}

Result<nlohmann::json> Cloud::PolicySummary(std::chrono::seconds timeout) const {
  nlohmann::json summary;
  const Status arrived = WaitUntil(
      [&] {
        const nlohmann::json status = StatusJson();
        if (!status.is_object()) return NotFound("wbcloud status failed");
        for (const auto& a : status.value("agents", nlohmann::json::array())) {
          if (a.contains("policy_summary")) {
            summary = a["policy_summary"];
            return Status::Ok();
          }
        }
        return NotFound("no agent has sent a policy summary");
      },
      timeout);
  if (!arrived.ok()) return arrived;
  return summary;
}

nlohmann::json OutputJson(const CommandResult& result) {
  const std::string& out = result.output;
  auto j = nlohmann::json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string Cloud::StatusText() const {
  return RunCommand({kWbcloud, "status", "--state", state_.string()}).output;
}

nlohmann::json Cloud::StatusJson() const {
  CommandResult r = RunCommand({kWbcloud, "status", "--json", "--state", state_.string()});
  auto status = nlohmann::json::parse(r.output, nullptr, false);
  return status.is_object() ? status : nlohmann::json(nullptr);
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

CommandResult Agent::Wbagent(std::vector<std::string> args, const std::string* input) const {
  std::vector<std::string> argv = {kWbagent};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(config_.string());
  return RunCommand(argv, {}, input);
}

Status Agent::FindSecret(const std::string& secret) const {
  std::string utf16;
  for (char c : secret) {
    utf16.push_back(c);
    utf16.push_back('\0');
  }
  std::vector<std::filesystem::path> files = {log()};
  for (const auto& entry : std::filesystem::recursive_directory_iterator(state_)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::string found;
  for (const auto& file : files) {
    const std::string bytes = ReadFileOrEmpty(file);
    if (bytes.find(secret) == std::string::npos && bytes.find(utf16) == std::string::npos) continue;
    found += found.empty() ? "" : ", ";
    found += file.string();
  }
  return found.empty() ? Status::Ok() : Internal("the secret is in " + found);
}

Status Agent::FindSecretInMemory(const std::string& secret,
                                 std::chrono::milliseconds patience) const {
  // A control: the agent holds the path of its config; a search that cannot find it reads
  // nothing, and "no secret found" would mean nothing.
  auto control = FindInProcessMemory(process_.pid(), config_.string());
  if (!control.ok()) return control.error();
  if (control->empty()) {
    return Internal(
        "the memory search did not find even the agent's config path: it reads nothing");
  }
  const auto search = [&]() -> Status {
    std::string found;
    for (const std::string& needle : {secret, Utf16LeOfAscii(secret)}) {
      auto hits = FindInProcessMemory(process_.pid(), needle);
      if (!hits.ok()) return hits.error();
      for (const MemoryHit& hit : *hits) {
        std::ostringstream at;
        at << std::hex << hit.address;
        found += "\n  at 0x" + at.str() + " in " + hit.mapping;
      }
    }
    return found.empty() ? Status::Ok() : Internal("the secret is in the agent's memory:" + found);
  };
  Status last = search();
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!last.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    last = search();
  }
  return last;
}

nlohmann::json Agent::QueueRecord(const std::string& id) const {
  CommandResult r = Wbagent({"queue", "show", id, "--json"});
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

Status Agent::Launch() {
  auto child = ChildProcess::Start({kWbagent, "run", "--config", config_.string()}, log());
  if (!child.ok()) return child.error();
  process_ = std::move(*child);
  return Status::Ok();
}

Status Agent::Start() {
  // The log is appended to across restarts: only a connection of this run counts.
  const std::size_t before = ReadFileOrEmpty(log()).size();
  WB_RETURN_IF_ERROR(Launch());
  return WaitUntil(
      [&] {
        const std::string text = ReadFileOrEmpty(log());
        return text.size() > before &&
                       text.find("connected to the cloud", before) != std::string::npos
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

Result<Deployment> Deploy(const std::filesystem::path& dir, const std::string& bind_password,
                          const std::string& directory_toml,
                          const std::vector<std::string>& agent_ids,
                          std::vector<std::string> serve_args) {
  Deployment d;
  WB_RETURN_IF_ERROR(WriteFile(dir / "bind.password", bind_password, 0600));
  auto cloud = Cloud::Start(dir, std::move(serve_args));
  if (!cloud.ok()) return cloud.error().WithContext("wbcloud");
  d.cloud = std::move(*cloud);
  for (const std::string& id : agent_ids) {
    auto agent =
        Agent::Enroll({.agent_id = id, .dir = dir, .directory_toml = directory_toml}, *d.cloud);
    if (!agent.ok()) return agent.error().WithContext(id);
    WB_RETURN_IF_ERROR((*agent)->Start().WithContext("wbagent run " + id));
    d.agents.push_back(std::move(*agent));
  }
  return d;
}

}  // namespace wb::testing
