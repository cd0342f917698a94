#include "tests/protocol/agent_under_test.h"

#include <cstdlib>
#include <sstream>

namespace wb::testing {
namespace {

// The wbagent built with this test; WB_CONFORMANCE_WBAGENT names another build to hold to
// the spec (e.g. one of an older commit, to show which rows it departs from).
std::string Wbagent() {
  const char* other = std::getenv("WB_CONFORMANCE_WBAGENT");
  return other != nullptr && *other != '\0' ? other : WB_WBAGENT_PATH;
}

std::string DirectoryToml(const SlapdServer& slapd) {
  return "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\nurls = [\"" + slapd.ldaps_url() +
         "\"]\nca_file = \"" + slapd.ca_file().string() + "\"\nbind_dn = \"" +
         SlapdServer::service_dn() + "\"\nbind_password_file = \"bind.password\"\nbase_dn = \"" +
         SlapdServer::base_dn() +
         "\"\nlookup_attributes = [\"uid\", \"mail\"]\nppolicy_default_dn = \"" +
         SlapdServer::policy_dn() + "\"\nconnect_timeout = 2\noperation_timeout = 5\n";
}

}  // namespace

Result<std::unique_ptr<AgentUnderTest>> AgentUnderTest::Create(const AgentUnderTestSetup& setup) {
  auto signing = protocol::EcPrivateKey::Generate();
  if (!signing.ok()) return signing.error();
  auto encryption = protocol::EcPrivateKey::Generate();
  if (!encryption.ok()) return encryption.error();
  std::unique_ptr<AgentUnderTest> agent(
      new AgentUnderTest(std::move(*signing), std::move(*encryption)));
  agent->config_ = setup.dir / "wbagent.toml";
  agent->state_ = setup.dir / "state";
  agent->log_ = setup.dir / "wbagent.log";
  WB_RETURN_IF_ERROR(agent->WriteState(setup));
  WB_RETURN_IF_ERROR(agent->WriteConfig(setup));
  return agent;
}

// What `wbagent register` would have stored had the peer been the cloud (the files of
// channel/identity.h), written here by hand so that the suite does not lean on the agent's
// own code to set itself up.
Status AgentUnderTest::WriteState(const AgentUnderTestSetup& setup) {
  std::error_code ec;
  std::filesystem::create_directories(state_, ec);
  std::filesystem::permissions(state_, std::filesystem::perms::owner_all, ec);
  if (ec) return IoError(state_.string() + ": " + ec.message());
  auto client = setup.peer_ca->IssueClient(setup.agent_id);
  if (!client.ok()) return client.error();
  WB_RETURN_IF_ERROR(WriteFile(state_ / "agent.crt", ReadFileOrEmpty(client->cert)));
  WB_RETURN_IF_ERROR(WriteFile(state_ / "agent.key", ReadFileOrEmpty(client->key), 0600));
  WB_RETURN_IF_ERROR(encryption_key_.Save(state_ / "encryption.key"));
  encryption_jwk_ = encryption_key_.PublicJwk("enc", "ECDH-ES");
  const protocol::Jwk signing_jwk = signing_key_.PublicJwk("sig", "ES256");
  signing_kid_ = signing_jwk.kid;
  WB_RETURN_IF_ERROR(WriteFile(state_ / "cloud-keys.json",
                               protocol::SerializeJwks(protocol::Jwks{{signing_jwk}}), 0600));
  const nlohmann::json enrollment = {
      {"agent_id", setup.agent_id},
      {"tenant", setup.tenant},
      // Not where the peer listens: §11, the agent dials cloud.url from its config, and
      // agent_url is only recorded. Every row that connects shows it.
      {"agent_url", "wss://agents.elsewhere.invalid:443/agent"},
      {"enrolled_at", std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()}};
  return WriteFile(state_ / "enrollment.json", enrollment.dump() + "\n", 0600);
}

Status AgentUnderTest::WriteConfig(const AgentUnderTestSetup& setup) {
  WB_RETURN_IF_ERROR(WriteFile(setup.dir / "bind.password", SlapdServer::service_password(), 0600));
  const std::string toml =
      "[agent]\nid = \"" + setup.agent_id + "\"\nstate_dir = \"" + state_.string() +
      "\"\n\n[cloud]\nurl = \"wss://127.0.0.1:" + std::to_string(setup.peer_port) +
      "/agent\"\nca_file = \"" + setup.peer_ca->cert().string() +
      "\"\nconnect_timeout = 5\nheartbeat_interval = " + std::to_string(setup.heartbeat_seconds) +
      "\n\n" + DirectoryToml(*setup.slapd) +
      "\n[queue]\nmax_in_flight = " + std::to_string(setup.max_in_flight) +
      "\n\n[log]\nformat = \"json\"\n";
  return WriteFile(config_, toml);
}

Status AgentUnderTest::Start() {
  auto child = ChildProcess::Start({Wbagent(), "run", "--config", config_.string()}, log_);
  if (!child.ok()) return child.error();
  process_ = std::move(*child);
  return Status::Ok();
}

int AgentUnderTest::Stop(std::chrono::milliseconds grace) { return process_.Stop(grace); }

nlohmann::json AgentUnderTest::QueueRecord(const std::string& id) const {
  CommandResult r =
      RunCommand({Wbagent(), "queue", "show", id, "--json", "--config", config_.string()});
  if (r.exit_code != 0) return nullptr;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

std::vector<nlohmann::json> AgentUnderTest::AuditQuery(std::vector<std::string> filter) const {
  std::vector<std::string> args = {Wbagent(),  "audit", "query",    "--events",
                                   "--format", "json",  "--config", config_.string()};
  args.insert(args.end(), filter.begin(), filter.end());
  CommandResult r = RunCommand(args);
  std::vector<nlohmann::json> records;
  if (r.exit_code != 0) return records;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) records.push_back(std::move(j));
  }
  return records;
}

}  // namespace wb::testing
