// `wbagent audit verify`, `query` and `new-chain`: the auditor's commands (docs/audit.md).
// The trail, key and checkpoint come from the config unless given on the command line; the
// config is only read when something is not given, so a copy of a trail can be checked on
// another host without one.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "audit/audit.h"
#include "common/clock.h"
#include "common/log_escape.h"
#include "config/config.h"
#include "queue/state_lock.h"

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
bool ParseTimeArg(const std::string& text, const char* option, const Clock& clock,
                  std::optional<WallTime>& out) {
  if (text.empty()) return true;
  auto time = audit::ParseQueryTime(text, clock);
  if (!time.ok()) {
    std::fprintf(stderr, "wbagent audit query: %s: %s\n", option, time.error().message().c_str());
    return false;
  }
  out = *time;
  return true;
}

// The filter the options ask for, or nullopt after saying on stderr what is wrong.
std::optional<audit::QueryFilter> FilterFor(const AuditQueryArgs& args, const Clock& clock) {
  audit::QueryFilter filter;
  if (!ParseTimeArg(args.since, "--since", clock, filter.since) ||
      !ParseTimeArg(args.until, "--until", clock, filter.until)) {
    return std::nullopt;
  }
  if (!args.event.empty()) {
    filter.event = audit::ParseEventType(args.event);
    if (!filter.event) {
      std::fprintf(stderr,
                   "wbagent audit query: --event %s: not an event type (docs/audit.md, \"Event "
                   "types\")\n",
                   args.event.c_str());
      return std::nullopt;
    }
  }
  if (!args.decision.empty()) {
    filter.decision = audit::ParseDecision(args.decision);
    if (!filter.decision) {
      std::fprintf(stderr,
                   "wbagent audit query: --decision %s: must be allow, deny, would_deny or hold\n",
                   args.decision.c_str());
      return std::nullopt;
    }
  }
  filter.user = args.user;
  filter.request_id = args.request;
  filter.outcome = args.outcome;
  return filter;
}

void WarnSkipped(std::uint64_t skipped) {
  if (skipped == 0) return;
  std::fprintf(stderr,
               "wbagent: skipped %s that %s not a complete record; run `wbagent audit verify`\n",
               Plural(skipped, "line").c_str(), skipped == 1 ? "is" : "are");
}

// A refused --request prefix is the caller's to fix (exit 2); anything else is the trail's.
int QueryFailed(const Status& error) {
  if (error.code() == Code::kInvalidArgument) {
    std::fprintf(stderr, "wbagent audit query: --request %s\n", error.message().c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "wbagent: cannot read the audit trail: %s\n", error.ToString().c_str());
  return kExitFailure;
}

int Print(const std::string& out, std::uint64_t skipped) {
  std::fwrite(out.data(), 1, out.size(), stdout);
  WarnSkipped(skipped);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

int QueryEvents(const std::filesystem::path& file, const audit::QueryFilter& filter,
                audit::Format format) {
  auto result = audit::Query(file, filter);
  if (!result.ok()) return QueryFailed(result.error());
  return Print(audit::FormatRecords(result->records, format), result->skipped_lines);
}

int QueryRequests(const std::filesystem::path& file, const audit::QueryFilter& filter,
                  audit::Format format) {
  auto result = audit::QueryRequests(file, filter);
  if (!result.ok()) return QueryFailed(result.error());
  return Print(audit::FormatRequests(result->rows, format), result->skipped_lines);
}

// Not a failure (a power loss can tear a slot), but never passed over: such a start may also
// be an edit of the newer slot that undid the last sync, which the trail alone cannot tell.
void PrintCheckpointRecoveries(const audit::VerifyReport& report) {
  for (const auto& r : report.checkpoint_recoveries) {
    std::printf(
        "NOTE: seq %llu: a start found one checkpoint slot failing its check and went on from "
        "the other: a power loss that tore it, or an edit that undid the last sync before it. "
        "Compare the witnessed head or an off-host copy of the trail (docs/audit.md, \"Crashes "
        "and torn lines\"). Detail: %s\n",
        static_cast<unsigned long long>(r.seq), EscapeForLog(r.detail, 512).c_str());
  }
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
    PrintCheckpointRecoveries(report);
    return;
  }
  const audit::Finding& f = *report.finding;
  const char* label = f.problem == audit::Problem::kTornTail ? "TORN TAIL" : "FAILED";
  std::string where = f.file.string();
  if (f.line > 0) where.append(":").append(std::to_string(f.line));
  std::printf("%s: %s: %s: %s\n", label, where.c_str(), std::string(Name(f.problem)).c_str(),
              f.message.c_str());
  std::printf("(%s verified)\n", Plural(report.records, "record").c_str());
  PrintCheckpointRecoveries(report);  // those among the records verified before the finding
}

// <state_dir>/audit-evidence-20261205T154800Z
std::filesystem::path DefaultEvidenceDir(const std::filesystem::path& state_dir,
                                         const Clock& clock) {
  std::string stamp;
  for (char c : audit::FormatTime(clock.Now()).substr(0, 19)) {
    if (c != '-' && c != ':') stamp += c;
  }
  return state_dir / ("audit-evidence-" + stamp + "Z");
}

// Run as root, the new files would be root's and the service could not extend them.
Status GiveToStateDirOwner(const std::filesystem::path& state_dir,
                           const std::vector<std::filesystem::path>& files) {
  if (::geteuid() != 0) return Status::Ok();
  struct stat st {};
  if (::stat(state_dir.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + state_dir.string());
  for (const auto& f : files) {
    if (::chown(f.c_str(), st.st_uid, st.st_gid) != 0) {
      return ErrnoStatus(errno, "chown " + f.string());
    }
  }
  return Status::Ok();
}

int NewChainFailed(const Status& error) {
  std::fprintf(stderr, "wbagent audit new-chain: %s\n", error.ToString().c_str());
  return error.code() == Code::kAlreadyExists ? kExitUsage : kExitFailure;
}

void PrintNewChain(const audit::NewChain& chain, const audit::NewChainOptions& options) {
  const audit::Finding& f = *chain.old_report.finding;
  std::printf("the old trail failed verification: %s at %s:%llu: %s\n",
              std::string(audit::Name(f.problem)).c_str(), f.file.c_str(),
              static_cast<unsigned long long>(f.line), f.message.c_str());
  std::printf("kept as evidence: %zu files moved, as they are, to %s\n", chain.moved.size(),
              options.evidence_dir.c_str());
  std::printf("the old head (its last line as kept): %s\n",
              audit::FormatHead({.seq = chain.old_head.seq, .hash = chain.old_head.hash}).c_str());
  std::printf("new chain: chain_started at seq %llu in %s names them\n",
              static_cast<unsigned long long>(chain.first.seq), options.file.c_str());
  std::printf(
      "next:\n"
      "  1. check the evidence (it shows the same problem): wbagent audit verify --file "
      "%s/%s --checkpoint %s/%s --key-file KEY\n"
      "  2. the cloud's witness holds the old chain's head: enroll again (wbagent register "
      "--force --token ...) or the agent takes no request (docs/audit.md, \"The witness\")\n"
      "  3. start the agent: systemctl start wbagent\n",
      options.evidence_dir.c_str(), options.file.filename().c_str(), options.evidence_dir.c_str(),
      options.checkpoint_file.filename().c_str());
}

}  // namespace

int AuditNewChainCommand(const AuditNewChainArgs& args, const Clock& clock) {
  const std::optional<config::Config> cfg = LoadForAudit(args.config_file);
  if (!cfg) return kExitUsage;
  // The agent opens its trail before it takes this lock: a running agent holds it.
  auto lock = queue::StateLock::Acquire(cfg->agent.state_dir);
  if (!lock.ok()) {
    std::fprintf(stderr, "wbagent audit new-chain: %s; stop the agent first\n",
                 lock.error().message().c_str());
    return kExitFailure;
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
  const audit::NewChainOptions options{
      .file = cfg->audit.file,
      .checkpoint_file = audit::CheckpointPath(cfg->agent.state_dir),
      .evidence_dir = args.evidence.empty() ? DefaultEvidenceDir(cfg->agent.state_dir, clock)
                                            : std::filesystem::absolute(args.evidence),
      .agent_id = cfg->agent.id};
  auto chain = audit::StartNewChain(options, std::move(key->key), clock);
  if (!chain.ok()) return NewChainFailed(chain.error());
  // The lock file too: taking the lock creates it when the agent never got that far.
  if (Status s = GiveToStateDirOwner(
          cfg->agent.state_dir,
          {options.file, options.checkpoint_file, cfg->agent.state_dir / queue::kLockFileName});
      !s.ok()) {
    std::fprintf(stderr, "wbagent audit new-chain: %s\n", s.ToString().c_str());
    return kExitFailure;
  }
  PrintNewChain(*chain, options);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

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

int AuditQueryCommand(const AuditQueryArgs& args, const Clock& clock) {
  const std::optional<audit::QueryFilter> filter = FilterFor(args, clock);
  if (!filter) return kExitUsage;
  const std::optional<audit::Format> format = audit::ParseFormat(args.format);
  if (!format) {
    std::fprintf(stderr, "wbagent: --format must be table, json or csv\n");
    return kExitUsage;
  }
  std::optional<config::Config> cfg;
  if (args.file.empty() && !(cfg = LoadForAudit(args.config_file))) return kExitUsage;
  const std::filesystem::path file = args.file.empty() ? cfg->audit.file : args.file;
  return args.events ? QueryEvents(file, *filter, *format) : QueryRequests(file, *filter, *format);
}

}  // namespace wb::agent
