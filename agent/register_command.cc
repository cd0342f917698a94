// `wbagent register --token TOKEN`: enrolls this agent with the cloud (channel/enrollment.h).
#include <cstdio>
#include <string>

#include "agent/commands.h"
#include "channel/enrollment.h"
#include "common/clock.h"
#include "common/secret.h"
#include "common/version.h"
#include "config/config.h"

namespace wb::agent {

int RegisterCommand(const std::filesystem::path& config_file, const std::string& token,
                    bool force) {
  // Reads no directory secret: a credential that only the unit can see must not stop it.
  auto loaded = config::LoadConfig(
      config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kSkip));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(loaded.error()).c_str());
    std::fprintf(stderr, "wbagent register: %s is invalid\n", config_file.c_str());
    return kExitUsage;
  }
  if (token.empty()) {
    std::fprintf(stderr, "wbagent register: --token is empty\n");
    return kExitUsage;
  }
  const channel::Options options = channel::OptionsFromConfig(*loaded);
  SystemClock clock;
  auto result = channel::Register(options, Secret(token), force, clock);
  if (!result.ok()) {
    std::fprintf(stderr, "wbagent register: %s\n", result.error().message().c_str());
    return result.error().code() == Code::kAlreadyExists ? kExitUsage : kExitFailure;
  }
  std::printf("enrolled agent %s with tenant %s\n", result->enrollment.agent_id.c_str(),
              result->enrollment.tenant.c_str());
  std::printf("  client certificate valid until %s\n",
              FormatUtcSeconds(result->certificate.not_after).c_str());
  std::printf("  %zu cloud signing key(s) pinned\n", result->cloud_keys);
  std::printf("  state in %s\n", options.state_dir.c_str());
  const std::string& agent_url = result->enrollment.agent_url;
  if (!agent_url.empty() && agent_url != loaded->cloud.url) {
    std::printf("note: the cloud says agents connect to %s; cloud.url is %s\n", agent_url.c_str(),
                loaded->cloud.url.c_str());
  }
  return kExitOk;
}

}  // namespace wb::agent
