#pragma once
// Test support for the protocol conformance suite: a real `wbagent run` process whose state
// directory is enrolled with the scripted peer (tests/protocol/scripted_peer.h) instead of
// wbcloud: a client certificate from the peer's CA (CN = agent id), the peer's signing key
// pinned in cloud-keys.json, the tenant in enrollment.json, and an encryption key whose public
// half the peer seals passwords to. The directory is a real slapd.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "protocol/protocol.h"
#include "tests/support/process.h"
#include "tests/support/slapd_server.h"
#include "tests/support/test_ca.h"

namespace wb::testing {

struct AgentUnderTestSetup {
  std::filesystem::path dir;  // config, state and logs go here
  std::string agent_id;
  std::string tenant;
  int peer_port = 0;
  const TestCa* peer_ca = nullptr;  // issues the client certificate; signs the peer's server
  const SlapdServer* slapd = nullptr;
  int heartbeat_seconds = 1;
  int max_in_flight = 2;  // = the credits the agent announces
};

class AgentUnderTest {
 public:
  // Writes the config and an enrolled state directory; does not start the process.
  static Result<std::unique_ptr<AgentUnderTest>> Create(const AgentUnderTestSetup& setup);

  Status Start();
  // SIGTERM, then wait (SIGKILL after `grace`); returns the exit code (-1 when killed).
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  void Signal(int sig) const { process_.Signal(sig); }
  Result<int> Wait(std::chrono::milliseconds timeout) { return process_.Wait(timeout); }
  bool running() { return process_.running(); }

  // `wbagent queue show ID --json`'s record; null when the agent's queue does not know ID.
  nlohmann::json QueueRecord(const std::string& id) const;
  // `wbagent audit query --events --format json FILTER...`: one object per record (empty on
  // failure).
  std::vector<nlohmann::json> AuditQuery(std::vector<std::string> filter) const;
  std::string Log() const { return ReadFileOrEmpty(log_); }
  // The agent's state directory (its audit key is <state>/audit.key once it has run).
  const std::filesystem::path& state_dir() const { return state_; }

  const protocol::EcPrivateKey& signing_key() const { return signing_key_; }
  const std::string& signing_kid() const { return signing_kid_; }
  const protocol::Jwk& encryption_jwk() const { return encryption_jwk_; }

 private:
  AgentUnderTest(protocol::EcPrivateKey signing, protocol::EcPrivateKey encryption)
      : signing_key_(std::move(signing)), encryption_key_(std::move(encryption)) {}
  Status WriteState(const AgentUnderTestSetup& setup);
  Status WriteConfig(const AgentUnderTestSetup& setup);

  protocol::EcPrivateKey signing_key_;     // the peer's: signs requests and key sets
  protocol::EcPrivateKey encryption_key_;  // the agent's (also in its state directory)
  std::string signing_kid_;
  protocol::Jwk encryption_jwk_;
  std::filesystem::path config_;
  std::filesystem::path state_;
  std::filesystem::path log_;
  ChildProcess process_;
};

}  // namespace wb::testing
