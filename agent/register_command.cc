// `wbagent register --token-file FILE`: enrolls this agent with the cloud (channel/enrollment.h).
#include <cstdio>
#include <string>

#include "agent/commands.h"
#include "agent/password_input.h"
#include "channel/enrollment.h"
#include "common/clock.h"
#include "common/secret.h"
#include "common/version.h"
#include "config/config.h"

namespace wb::agent {

namespace {

// The token, never copied outside secure memory once read: from the file (checked as every
// secret file is: not readable by others), from standard input, or from the command line.
Result<Secret> ReadToken(const RegisterArgs& args) {
  if (args.token_file == "-") return ReadSecretLineFromStdin("Token", "token");
  if (!args.token_file.empty()) return ReadSecretFile(args.token_file);
  if (args.token.empty()) return InvalidArgument("--token-file or --token is empty");
  return Secret(args.token);
}

}  // namespace

int RegisterCommand(const RegisterArgs& args) {
  // Reads no directory secret: a credential that only the unit can see must not stop it.
  auto loaded = config::LoadConfig(
      args.config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kSkip));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(loaded.error()).c_str());
    std::fprintf(stderr, "wbagent register: %s is invalid\n", args.config_file.c_str());
    return kExitUsage;
  }
  Result<Secret> token = ReadToken(args);
  if (!token.ok()) {
    std::fprintf(stderr, "wbagent register: the token: %s\n", token.error().message().c_str());
    return kExitUsage;
  }
  if (token->view().empty()) {
    std::fprintf(stderr, "wbagent register: the token is empty\n");
    return kExitUsage;
  }
  const channel::Options options = channel::OptionsFromConfig(*loaded);
  SystemClock clock;
  auto result = channel::Register(options, std::move(*token), args.force, clock);
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
