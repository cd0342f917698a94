#include <CLI/CLI.hpp>
#include <string>

#include "agent/agent.h"
#include "agent/command_suggest.h"
#include "agent/commands.h"
#include "common/secret.h"
#include "common/secure_memory.h"
#include "common/version.h"

namespace wb::agent {
namespace {

constexpr char kDefaultConfig[] = "/etc/wbagent/wbagent.toml";

CLI::App* AddConfigVerb(CLI::App& app, const char* name, const char* description,
                        std::string& config_path) {
  CLI::App* verb = app.add_subcommand(name, description);
  verb->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
  return verb;
}

// `wbagent audit verify|query`. The options write into `verbs`, which must stay in place.
struct AuditVerbs {
  CLI::App* verify = nullptr;
  CLI::App* query = nullptr;
  CLI::App* new_chain = nullptr;
  AuditVerifyArgs verify_args;
  AuditQueryArgs query_args;
  AuditNewChainArgs new_chain_args;
};

void AddNewChainVerb(CLI::App& audit, std::string& config_path, AuditVerbs& verbs) {
  AuditNewChainArgs& n = verbs.new_chain_args;
  verbs.new_chain = AddConfigVerb(audit, "new-chain",
                                  "After a failed verify: move the trail and its checkpoint, as "
                                  "they are, to an evidence directory and start a new chain "
                                  "whose first record names the old head (the agent must be "
                                  "stopped)",
                                  config_path);
  verbs.new_chain->add_option("--evidence", n.evidence,
                              "Evidence directory to create, beside the trail (default: "
                              "<state_dir>/audit-evidence-<UTC time>)");
  verbs.new_chain->add_option("--key-file", n.key_file, "Audit key (default: audit.key_file)");
}

void AddAuditVerbs(CLI::App& app, std::string& config_path, AuditVerbs& verbs) {
  CLI::App* audit =
      app.add_subcommand("audit", "Verify or query the audit trail, or start a new chain");
  audit->require_subcommand(1);
  AuditVerifyArgs& v = verbs.verify_args;
  verbs.verify = AddConfigVerb(*audit, "verify",
                               "Check the audit trail's HMACs, chain, rotation and checkpoint; "
                               "print OK or the first broken record",
                               config_path);
  verbs.verify->add_option("--file", v.file, "Active trail file (default: audit.file)");
  verbs.verify->add_option("--key-file", v.key_file, "Audit key (default: audit.key_file)");
  CLI::Option* checkpoint = verbs.verify->add_option(
      "--checkpoint", v.checkpoint, "Checkpoint (default: <state_dir>/audit.checkpoint)");
  verbs.verify
      ->add_flag("--no-checkpoint", v.no_checkpoint,
                 "Do not check the checkpoint (a copy of a trail)")
      ->excludes(checkpoint);
  verbs.verify->add_option("--witness", v.witness,
                           "An audit head kept off-host, SEQ:HASH:HMAC (wbcloud status shows the "
                           "cloud's): the trail must hold it, which shows a deleted or rolled-back "
                           "trail");
  AddNewChainVerb(*audit, config_path, verbs);
  AuditQueryArgs& q = verbs.query_args;
  verbs.query = AddConfigVerb(*audit, "query",
                              "Show one row per request (who, what, whose account, verified how, "
                              "result), or with --events the records, as a table, JSON or CSV",
                              config_path);
  verbs.query->add_option("--file", q.file, "Active trail file (default: audit.file)");
  verbs.query->add_option("--since", q.since,
                          "From this time: UTC YYYY-MM-DD[THH:MM[:SS]], or 30m, 24h, 7d (ago), "
                          "today, yesterday (00:00 UTC), now");
  verbs.query->add_option("--until", q.until, "Before this time (the same forms)");
  verbs.query->add_option("--user", q.user,
                          "Target account or requester; ignores case, * is a wildcard");
  verbs.query->add_option("--request", q.request,
                          "Request id, or an unambiguous prefix of 4 characters or more");
  verbs.query->add_option("--outcome", q.outcome, "Outcome code, e.g. succeeded");
  verbs.query->add_option("--event", q.event,
                          "Event type, e.g. directory_write (requests with such a record)");
  verbs.query->add_option("--decision", q.decision,
                          "Policy decision: allow, deny, would_deny (log-only) or hold (requests "
                          "with such a decision)");
  verbs.query->add_flag("--events", q.events, "One row per record instead of per request");
  verbs.query->add_option("--format", q.format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
}

// `wbagent status`, `wbagent queue list` and `wbagent queue show`: read-only views of a
// running (or stopped) agent. The options write into `verbs`, which must stay in place.
struct InspectVerbs {
  CLI::App* status = nullptr;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  StatusArgs status_args;
  QueueListArgs list_args;
  QueueShowArgs show_args;
  std::vector<CLI::App*> breaker;  // status, release, reject
  BreakerArgs breaker_args;
};

// --state-dir instead of the config: for configs that name systemd credentials, which exist
// only inside the running service.
void AddStateDirOption(CLI::App& verb, std::filesystem::path& state_dir) {
  verb.add_option("--state-dir", state_dir,
                  "Inspect this state directory without reading the config")
      ->excludes(verb.get_option("--config"));
}

void AddInspectVerbs(CLI::App& app, std::string& config_path, InspectVerbs& verbs) {
  verbs.status = AddConfigVerb(app, "status",
                               "Show whether the agent runs and is connected, its queue, last "
                               "results and directory servers; exit 0 only when connected, "
                               "every directory has a healthy server and the breaker is not "
                               "tripped",
                               config_path);
  AddStateDirOption(*verbs.status, verbs.status_args.where.state_dir);
  verbs.status->add_flag("--json", verbs.status_args.json, "One JSON object");
  CLI::App* queue = app.add_subcommand("queue", "Inspect the request queue (read-only)");
  queue->require_subcommand(1);
  QueueListArgs& l = verbs.list_args;
  verbs.list = AddConfigVerb(*queue, "list", "List requests, newest first", config_path);
  AddStateDirOption(*verbs.list, l.where.state_dir);
  verbs.list->add_option("--state", l.state,
                         "Only this state: received, ready, applying, succeeded, rejected, "
                         "failed or expired");
  verbs.list->add_option("--limit", l.limit, "At most this many")->capture_default_str();
  verbs.list->add_flag("--oldest", l.oldest_first, "Oldest first (accept order)");
  verbs.list->add_flag("--json", l.json, "One JSON object");
  QueueShowArgs& s = verbs.show_args;
  verbs.show = AddConfigVerb(*queue, "show", "Show one request and its history", config_path);
  AddStateDirOption(*verbs.show, s.where.state_dir);
  verbs.show
      ->add_option("id", s.id, "The request id, or an unambiguous prefix (4 characters or more)")
      ->required();
  verbs.show->add_flag("--json", s.json, "One JSON object");
  CLI::App* breaker = app.add_subcommand(
      "breaker", "Show the mass-reset breaker, or release or reject what it holds");
  breaker->require_subcommand(1);
  for (const auto& [action, help] :
       {std::pair<const char*, const char*>{"status", "Show whether the breaker is tripped"},
        {"release", "Admit and apply the requests the breaker holds"},
        {"reject", "Refuse the requests the breaker holds; nothing is written"}}) {
    CLI::App* verb = AddConfigVerb(*breaker, action, help, config_path);
    AddStateDirOption(*verb, verbs.breaker_args.where.state_dir);
    verbs.breaker.push_back(verb);
  }
}

// `wbagent policy test`. The options write into `args`, which must stay in place.
CLI::App* AddPolicyVerbs(CLI::App& app, std::string& config_path, PolicyTestArgs& args) {
  CLI::App* policy = app.add_subcommand("policy", "Preview the on-premises policy");
  policy->require_subcommand(1);
  CLI::App* test = AddConfigVerb(*policy, "test",
                                 "Would a request for this user be allowed, and by which rules? "
                                 "Reads only; writes nothing anywhere",
                                 config_path);
  test->add_option("--user", args.user, "The target account, as the request names it")->required();
  test->add_option("--kind", args.kind,
                   "How --user names it: userPrincipalName, sAMAccountName, uid, mail or dn")
      ->capture_default_str();
  test->add_option("--op", args.operations,
                   "Operations: reset, change, unlock, require_change, clear_require_change, "
                   "validate (repeat for several)")
      ->capture_default_str();
  test->add_option("--requester-type", args.requester_type, "self or admin")->capture_default_str();
  test->add_option("--requester", args.requester,
                   "The requester's id (required for admin; default: --user)");
  test->add_option("--verified-by", args.verified_by,
                   "A verification method the cloud would sign (repeat for several)");
  test->add_option("--password-file", args.password_file,
                   "Also check this password (a file readable by its owner only, or - for "
                   "standard input) against the password rules; it is never printed");
  test->add_flag("--json", args.json, "One JSON object");
  return test;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"wbagent: on-premises password writeback agent", "wbagent"};
  app.set_version_flag("--version", std::string("wbagent ") + kVersion);
  app.require_subcommand(1);
  std::string config_path = kDefaultConfig;
  CLI::App* check =
      AddConfigVerb(app, "check-config",
                    "Validate a configuration file, print every problem, and exit", config_path);
  CLI::App* run = AddConfigVerb(
      app, "run", "Run the agent in the foreground (as systemd starts it)", config_path);
  AuditVerbs audit;
  AddAuditVerbs(app, config_path, audit);
  RegisterArgs register_args;
  CLI::App* enroll = AddConfigVerb(
      app, "register", "Enroll this agent with the cloud using a one-time token", config_path);
  // Exactly one source of the token.
  CLI::Option_group* token_source = enroll->add_option_group("token");
  token_source->add_option(
      "--token-file", register_args.token_file,
      "File holding the one-time enrollment token (mode 0600), or - to type or pipe it");
  token_source->add_option("--token", register_args.token,
                           "The token on the command line (other local users can see it while "
                           "register runs; prefer --token-file)");
  token_source->require_option(1);
  enroll->add_flag("--force", register_args.force, "Enroll again, replacing the existing keys");
  InspectVerbs inspect;
  AddInspectVerbs(app, config_path, inspect);
  PolicyTestArgs policy_test_args;
  CLI::App* policy_test = AddPolicyVerbs(app, config_path, policy_test_args);
  BreachedVerbs breached;
  AddBreachedVerbs(app, breached);
  DoctorArgs doctor_args;
  CLI::App* doctor = AddConfigVerb(app, "doctor",
                                   "Check, reading only, everything the agent needs: its files, "
                                   "the way to the cloud, each directory and the service "
                                   "account's rights; exit 0 only when all pass",
                                   config_path);
  doctor->add_flag("--json", doctor_args.json, "One JSON object per check");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 in CLI11; the rest are usage errors.
    if (e.get_exit_code() != 0) {
      if (auto hint = UnknownCommandHint(app, std::vector<std::string>(argv + 1, argv + argc))) {
        std::fprintf(stderr, "%s\n", hint->c_str());
        return kExitUsage;
      }
    }
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // Most commands read a secret (doctor and policy test bind with the bind password, register
  // makes the private keys, audit verify reads the audit key): none may leave a core dump.
  // `run` checks this again and refuses to start without it; for the others it is best effort.
  (void)DisableCoreDumps();
  if (check->parsed()) return CheckConfigCommand(config_path);
  if (doctor->parsed()) {
    doctor_args.config_file = config_path;
    return DoctorCommand(doctor_args, SystemClock());
  }
  if (std::optional<int> exit_code = BreachedCommand(breached)) return *exit_code;
  if (run->parsed()) return RunDaemonCommand(config_path);
  if (enroll->parsed()) {
    register_args.config_file = config_path;
    const int exit_code = RegisterCommand(register_args);
    WipeBytes(register_args.token.data(), register_args.token.size());
    return exit_code;
  }
  if (inspect.status->parsed()) {
    inspect.status_args.where.config_file = config_path;
    return StatusCommand(inspect.status_args);
  }
  if (inspect.list->parsed()) {
    inspect.list_args.where.config_file = config_path;
    return QueueListCommand(inspect.list_args);
  }
  for (CLI::App* verb : inspect.breaker) {
    if (!verb->parsed()) continue;
    inspect.breaker_args.where.config_file = config_path;
    inspect.breaker_args.action = verb->get_name();
    return BreakerCommand(inspect.breaker_args);
  }
  if (inspect.show->parsed()) {
    inspect.show_args.where.config_file = config_path;
    return QueueShowCommand(inspect.show_args);
  }
  if (audit.verify->parsed()) {
    audit.verify_args.config_file = config_path;
    return AuditVerifyCommand(audit.verify_args);
  }
  if (audit.new_chain->parsed()) {
    audit.new_chain_args.config_file = config_path;
    return AuditNewChainCommand(audit.new_chain_args, SystemClock());
  }
  if (policy_test->parsed()) {
    policy_test_args.config_file = config_path;
    return PolicyTestCommand(policy_test_args, SystemClock());
  }
  if (audit.query->parsed()) {
    audit.query_args.config_file = config_path;
    return AuditQueryCommand(audit.query_args, SystemClock());
  }
  return kExitUsage;
}

}  // namespace wb::agent
