#include "config/internal/credentials.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "config/internal/files.h"
#include "config/internal/systemd_unit.h"

namespace wb::config::internal {

namespace fs = std::filesystem;

Problem CheckCredentialName(std::string_view name) {
  const bool valid_chars = std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-' ||
           c == '@';
  });
  if (name.empty() || name.size() > 64 || !valid_chars || name == "." || name == "..") {
    std::string problem =
        "must be a credential name as in LoadCredential=NAME:PATH: 1 to 64 of "
        "A-Z a-z 0-9 . _ - @, e.g. \"ad-bind\"; found ";
    problem += Quote(name);
    return problem;
  }
  return std::nullopt;
}

// A bind password file under /run/credentials exists only inside the running unit, so every
// command run by hand fails on it: point at the key made for that.
Problem WithCredentialHint(const fs::path& path, Problem problem) {
  if (!problem) return problem;
  auto part = path.begin();
  if (part == path.end() || *part != "/" || ++part == path.end() || *part != "run" ||
      ++part == path.end() || *part != "credentials") {
    return problem;
  }
  return *problem + "; a file under /run/credentials exists only inside the running service: " +
         "name the credential instead, bind_password_credential = " +
         Quote(path.filename().string());
}

namespace {

ResolvedCredential ResolveInUnit(const LoadContext& ctx, const std::string& name) {
  const LoadOptions& options = ctx.options;
  std::string credential = "credential ";
  credential += Quote(name);
  auto found = FindLoadCredential(options.unit_path, options.unit_name, name);
  if (!found.ok()) {
    return {std::nullopt, credential + " cannot be checked: $CREDENTIALS_DIRECTORY is not set " +
                              "(this is not the running service) and " + found.error() +
                              "; add LoadCredential=" + name + ":/etc/wbagent/" + name +
                              " with `systemctl edit wbagent`"};
  }
  std::string where = found->unit_file.string();
  where += ":";
  where += std::to_string(found->line);
  const fs::path source(found->source);
  if (!source.is_absolute()) {
    return {std::nullopt, credential + " cannot be checked: LoadCredential= at " + where +
                              " names no absolute source path (systemd then looks in its " +
                              "credential stores, which check-config does not read)"};
  }
  const fs::path file = source.lexically_normal();
  if (Problem p = CheckSecretFile(file)) {
    return {file, credential + " (LoadCredential= at " + where + "): " + *p};
  }
  return {file, std::nullopt};
}

}  // namespace

ResolvedCredential ResolveCredential(const LoadContext& ctx, const std::string& name) {
  const fs::path& dir = ctx.options.credentials_directory;
  if (!dir.empty()) {
    const fs::path file = (dir / name).lexically_normal();
    if (Problem p = CheckSecret(ctx, file)) {
      std::string problem = "credential ";
      problem.append(Quote(name)).append(" in $CREDENTIALS_DIRECTORY: ").append(*p);
      return {file, problem};
    }
    return {file, std::nullopt};
  }
  // Outside systemd a command that reads no secret has no need to look for it.
  if (ctx.options.secrets == SecretChecks::kSkip) return {};
  return ResolveInUnit(ctx, name);
}

}  // namespace wb::config::internal
