// `wbagent audit verify` and `wbagent audit query`: the auditor's commands (docs/audit.md).
// The trail, key and checkpoint come from the config unless given on the command line; the
// config is only read when something is not given, so a copy of a trail can be checked on
// another host without one.
#include <cstdio>
#include <optional>
#include <string>

#include "agent/commands.h"
#include "audit/audit.h"
#include "config/config.h"

namespace wb::agent {
namespace {

// Loads the config, or prints its errors as check-config does.
std::optional<config::Config> LoadForAudit(const std::filesystem::path& config_file) {
  // Reads no directory secret: a credential that only the unit can see must not stop it.
  auto loaded = config::LoadConfig(
      config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kSkip));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(loaded.error()).c_str());
    std::fprintf(stderr,
                 "wbagent: %s is invalid; give --file (and for verify --key-file and "
                 "--checkpoint or --no-checkpoint) to work without it\n",
                 config_file.c_str());
    return std::nullopt;
  }
  return std::move(*loaded);
}

std::string Plural(std::uint64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// An empty `text` leaves `out` unset.
bool ParseTimeArg(const std::string& text, const char* option, std::optional<WallTime>& out) {
  if (text.empty()) return true;
  auto time = audit::ParseTime(text);
  if (!time.ok()) {
    std::fprintf(stderr, "wbagent: %s: %s\n", option, time.error().message().c_str());
    return false;
  }
  out = *time;
  return true;
}

void PrintReport(const audit::VerifyReport& report, const audit::VerifyOptions& options) {
  if (report.ok()) {
    std::string checkpoint;
    if (!options.checkpoint_file) {
      checkpoint = "checkpoint not checked (--no-checkpoint): a removed tail would not be seen";
    } else if (report.checkpoint_seq) {
      checkpoint = "checkpoint at seq " + std::to_string(*report.checkpoint_seq) + " matches";
    } else {
      // Verify accepts a missing checkpoint only beside an empty trail.
      checkpoint =
          "no checkpoint and no records: an empty trail (only a witness shows whether "
          "one was deleted)";
    }
    if (options.witness) {
      checkpoint += "; the witnessed head (seq " + std::to_string(options.witness->seq) +
                    (options.witness->hmac.empty() ? ", no HMAC given" : "") + ") is held";
    }
    std::printf("OK: %s, %s (last seq %llu): HMACs, chain and rotation links verified; %s\n",
                Plural(report.files, "file").c_str(), Plural(report.records, "record").c_str(),
                static_cast<unsigned long long>(report.last_seq), checkpoint.c_str());
    return;
  }
  const audit::Finding& f = *report.finding;
  const char* label = f.problem == audit::Problem::kTornTail ? "TORN TAIL" : "FAILED";
  std::string where = f.file.string();
  if (f.line > 0) where.append(":").append(std::to_string(f.line));
  std::printf("%s: %s: %s: %s\n", label, where.c_str(), std::string(Name(f.problem)).c_str(),
              f.message.c_str());
  std::printf("(%s verified)\n", Plural(report.records, "record").c_str());
}

}  // namespace

int AuditVerifyCommand(const AuditVerifyArgs& args) {
  const bool need_config = args.file.empty() || args.key_file.empty() ||
                           (args.checkpoint.empty() && !args.no_checkpoint);
  std::optional<config::Config> cfg;
  if (need_config && !(cfg = LoadForAudit(args.config_file))) return kExitUsage;
  audit::VerifyOptions options;
  options.file = args.file.empty() ? cfg->audit.file : args.file;
  if (!args.no_checkpoint) {
    options.checkpoint_file =
        args.checkpoint.empty() ? audit::CheckpointPath(cfg->agent.state_dir) : args.checkpoint;
  }
  if (!args.witness.empty()) {
    auto witness = audit::ParseHead(args.witness);
    if (!witness.ok()) {
      std::fprintf(stderr, "wbagent: --witness: %s\n", witness.error().message().c_str());
      return kExitUsage;
    }
    options.witness = std::move(*witness);
  }
  audit::KeyOptions key_options;
  key_options.key_file = args.key_file.empty() ? cfg->audit.key_file : args.key_file;
  if (!args.key_file.empty()) key_options.credentials_directory = std::filesystem::path();
  auto key = audit::LoadKey(key_options);
  if (!key.ok()) {
    std::fprintf(stderr, "wbagent: cannot read the audit key: %s\n",
                 key.error().ToString().c_str());
    return kExitUsage;
  }
  auto report = audit::Verify(options, key->key);
  if (!report.ok()) {
    std::fprintf(stderr, "wbagent: cannot read the audit trail: %s\n",
                 report.error().ToString().c_str());
    return kExitFailure;
  }
  PrintReport(*report, options);
  return report->ok() ? kExitOk : kExitFailure;
}

int AuditQueryCommand(const AuditQueryArgs& args) {
  audit::QueryFilter filter;
  if (!ParseTimeArg(args.since, "--since", filter.since) ||
      !ParseTimeArg(args.until, "--until", filter.until)) {
    return kExitUsage;
  }
  const std::optional<audit::Format> format = audit::ParseFormat(args.format);
  if (!format) {
    std::fprintf(stderr, "wbagent: --format must be table, json or csv\n");
    return kExitUsage;
  }
  filter.user = args.user;
  filter.request_id = args.request;
  filter.outcome = args.outcome;
  std::optional<config::Config> cfg;
  if (args.file.empty() && !(cfg = LoadForAudit(args.config_file))) return kExitUsage;
  const std::filesystem::path file = args.file.empty() ? cfg->audit.file : args.file;
  auto result = audit::Query(file, filter);
  if (!result.ok()) {
    std::fprintf(stderr, "wbagent: cannot read the audit trail: %s\n",
                 result.error().ToString().c_str());
    return kExitFailure;
  }
  const std::string out = audit::FormatRecords(result->records, *format);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (result->skipped_lines > 0) {
    std::fprintf(
        stderr, "wbagent: skipped %s that %s not a complete record; run `wbagent audit verify`\n",
        Plural(result->skipped_lines, "line").c_str(), result->skipped_lines == 1 ? "is" : "are");
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace wb::agent
