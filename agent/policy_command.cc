// `wbagent policy test`: an administrator's preview of the policy's decision for one request
// (docs/policy.md, "Trying a rule before it matters"). It builds the request the way the daemon
// stores one (ToQueueRequest), opens the policy the way the daemon does (agent/open.h), and
// asks the same questions in the same order, so the preview cannot drift from the real thing.
// Everything it does is a read: the directory is searched as the service account, the queue
// and breaker.json are read, and the counts it adds live only in this process.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/open.h"
#include "agent/password_input.h"
#include "agent/request_mapping.h"
#include "common/log_escape.h"
#include "config/config.h"

namespace wb::agent {
namespace {

using Json = nlohmann::json;

// What the preview found for one rule.
enum class RuleResult { kPass, kMatch, kNotChecked };

std::string_view RuleResultName(RuleResult result) {
  switch (result) {
    case RuleResult::kPass:
      return "pass";
    case RuleResult::kMatch:
      return "match";
    case RuleResult::kNotChecked:
      return "not_checked";
  }
  return "";
}

struct RuleRow {
  policy::RuleInfo info;
  RuleResult result = RuleResult::kPass;
  std::optional<policy::RuleMatch> match;
};

// The preview's answer. `verdict` is a policy::VerdictName, or "fails" when the request would
// end before the account checks (its lookup fails, or the directory cannot answer).
struct Preview {
  std::optional<std::string> directory;
  std::optional<std::string> account_dn;
  std::vector<RuleRow> rules;
  std::string verdict;
  std::string code;  // the deciding match's or the failure's code; empty for allow
  std::string reason;
  protocol::UserAction user_action = protocol::UserAction::kNone;
  std::vector<std::string> notes;  // what limits the preview (e.g. no rate-limit history)
};

bool GoesThrough(const Preview& p) {
  return p.verdict == policy::VerdictName(policy::Verdict::kAllow) ||
         p.verdict == policy::VerdictName(policy::Verdict::kWouldDeny);
}

// --- The request, as the daemon would store it ---------------------------------------------

// The stored request for the preview; an error message for bad arguments.
Result<queue::RequestInfo, std::string> RequestFor(const PolicyTestArgs& args, WallTime now) {
  protocol::VerifiedRequest v;
  auto& c = v.claims;
  c.id = "policy-test";
  c.issued_at = now;
  c.expires_at = now + std::chrono::minutes(10);
  auto kind = protocol::ParseTargetKindName(args.kind);
  if (!kind) {
    return std::string("--kind: must be one of userPrincipalName, sAMAccountName, uid, mail, dn");
  }
  c.target = {*kind, args.user};
  for (const auto& name : args.operations) {
    auto op = protocol::ParseOperationName(name);
    if (!op) {
      return "--op " + name +
             ": must be one of reset, change, unlock, require_change, clear_require_change, "
             "validate";
    }
    c.operations.push_back(*op);
  }
  const bool admin = args.requester_type == "admin";
  if (!admin && args.requester_type != "self") {
    return std::string("--requester-type: must be self or admin");
  }
  if (admin && args.requester.empty()) {
    return std::string(
        "--requester: an admin request needs the requester's id (admin_requesters is checked "
        "against it)");
  }
  c.requester = {admin ? protocol::RequesterType::kAdmin : protocol::RequesterType::kSelf,
                 args.requester.empty() ? args.user : args.requester, args.verified_by};
  return ToQueueRequest(v, /*delivery=*/1).info;
}

// --- The checks, in the daemon's order -----------------------------------------------------

// Every rule starts as passed, except the password rules without a password to check: those
// are shown, never as passed.
void AddRules(Preview& p, const std::vector<policy::RuleInfo>& rules, bool password_checked) {
  for (const auto& r : rules) {
    const RuleResult result = r.stage == policy::Stage::kPassword && !password_checked
                                  ? RuleResult::kNotChecked
                                  : RuleResult::kPass;
    p.rules.push_back({r, result, std::nullopt});
  }
}

// Marks each rule a decision matched; a match for a rule not listed (the breaker kept from a
// run whose config had a limit) gets a row of its own.
void Apply(Preview& p, policy::Stage stage, const policy::Decision& d) {
  for (const auto& m : d.matches) {
    auto row = std::find_if(p.rules.begin(), p.rules.end(), [&](const RuleRow& r) {
      return r.info.stage == stage && r.info.rule == m.rule;
    });
    if (row == p.rules.end()) {
      p.rules.push_back({{stage, m.rule, "", m.enforced}, RuleResult::kMatch, m});
    } else {
      row->result = RuleResult::kMatch;
      row->match = m;
    }
  }
}

void NotChecked(Preview& p, policy::Stage stage) {
  for (auto& r : p.rules) {
    if (r.info.stage == stage) r.result = RuleResult::kNotChecked;
  }
}

// The verdict of `d`, with its deciding match, or for a would_deny the first log-only match
// (the request still goes through: the user's page stays none).
void Decided(Preview& p, const policy::Decision& d) {
  p.verdict = std::string(policy::VerdictName(d.verdict));
  const policy::RuleMatch* m = d.deciding();
  if (m == nullptr && !d.matches.empty()) m = &d.matches.front();
  if (m == nullptr) return;
  p.code = std::string(policy::CodeName(m->code));
  p.reason = m->reason;
  if (m->enforced) p.user_action = policy::UserActionFor(m->code);
}

void Failed(Preview& p, const ldap::Outcome& o, std::string_view during) {
  p.verdict = "fails";
  p.code = std::string(ldap::OutcomeName(o.code));
  p.reason = std::string(during) + ": " + o.ToString();
  if (o.transient()) p.reason += " (the daemon would retry it until the request expires)";
  p.user_action = UserActionFor(o.code);
}

// not_same_as_old compares with the old password, which the preview does not take.
void OldPasswordNotChecked(Preview& p) {
  constexpr std::string_view kKey = ".not_same_as_old";
  for (auto& r : p.rules) {
    const std::string& name = r.info.rule;
    if (r.info.stage == policy::Stage::kPassword && r.result == RuleResult::kPass &&
        name.size() > kKey.size() &&
        name.compare(name.size() - kKey.size(), kKey.size(), kKey) == 0) {
      r.result = RuleResult::kNotChecked;
    }
  }
}

// `password`: the new password to check against the password rules; null: not checked.
Preview Evaluate(const queue::RequestInfo& info, WallTime now, policy::Policy& policy,
                 const ldap::Router& router, const Secret* password) {
  const bool check_password = password != nullptr && WritesPassword(info.operations);
  Preview p;
  const protocol::Requester requester = RequesterOf(info);
  const policy::RequestFacts facts{
      .id = info.id, .requester = requester, .account_key = info.account_key, .received_at = now};
  const policy::Decision admission = policy.Admit(facts);
  Decided(p, admission);
  const bool admitted = admission.verdict == policy::Verdict::kAllow ||
                        admission.verdict == policy::Verdict::kWouldDeny;

  // The account's part is previewed even after a denial at admission (the daemon stops
  // there): an administrator wants to see every rule that would stop this user.
  const std::optional<ldap::Target> target = ToTarget(info);
  auto dir = router.Route(*target);
  if (!dir.ok()) {
    AddRules(p, policy.RulesFor("", requester.type), false);
    Apply(p, policy::Stage::kAdmission, admission);
    if (admitted) Failed(p, dir.error(), "choosing the directory");
    return p;
  }
  ldap::Directory& directory = **dir;
  p.directory = directory.name();
  AddRules(p, policy.RulesFor(directory.name(), requester.type), check_password);
  Apply(p, policy::Stage::kAdmission, admission);
  auto account = directory.FindAccount(*target);
  if (!account.ok()) {
    NotChecked(p, policy::Stage::kAccount);
    NotChecked(p, policy::Stage::kPassword);
    if (admitted) Failed(p, account.error(), "looking up the account");
    return p;
  }
  p.account_dn = account->dn;
  policy::AccountFacts known{.directory = directory.name(), .account = &*account, .answers = {}};
  const ldap::ScopeQuestions questions = policy.QuestionsFor(directory.name(), requester.type);
  if (!questions.filter.empty() || !questions.groups.empty()) {
    auto answers = directory.AnswerScope(*account, questions);
    if (!answers.ok()) {
      NotChecked(p, policy::Stage::kAccount);
      NotChecked(p, policy::Stage::kPassword);
      if (admitted) Failed(p, answers.error(), "asking the directory the policy's questions");
      return p;
    }
    known.answers = std::move(*answers);
  }
  const policy::Decision checked = policy.CheckAccount(facts, known);
  Apply(p, policy::Stage::kAccount, checked);
  std::optional<policy::Decision> password_checked;
  if (check_password) {
    password_checked = policy.CheckPassword(
        facts, {.directory = directory.name(),
                .new_password = password,
                .old_password = nullptr,  // not_same_as_old needs the old one: not previewed
                .names = {.login = account->login_name,
                          .display = account->display_name,
                          .given = account->given_name,
                          .surname = account->surname},
                .breached_count = std::nullopt});
    Apply(p, policy::Stage::kPassword, *password_checked);
    OldPasswordNotChecked(p);
  }
  if (!admitted) return p;
  // The first stage that denies decides; a would_deny stays one unless a later stage denies.
  const policy::Decision* password_decision = password_checked ? &*password_checked : nullptr;
  for (const policy::Decision* d : {&checked, password_decision}) {
    if (d == nullptr || p.verdict == policy::VerdictName(policy::Verdict::kDeny)) continue;
    if (d->verdict == policy::Verdict::kDeny ||
        (d->verdict == policy::Verdict::kWouldDeny &&
         p.verdict == policy::VerdictName(policy::Verdict::kAllow))) {
      Decided(p, *d);
    }
  }
  return p;
}

// --- Output --------------------------------------------------------------------------------

std::string Describe(const queue::RequestInfo& info) {
  const protocol::Requester r = RequesterOf(info);
  std::string ops;
  for (protocol::Operation op : OperationsOf(info.operations)) {
    if (!ops.empty()) ops += "+";
    ops += protocol::OperationName(op);
  }
  std::string methods;
  for (const auto& m : r.verified_by) methods += (methods.empty() ? "" : ", ") + m;
  std::string out = ops + " of \"" + EscapeForLog(info.target) + "\" (" + info.target_kind + "), " +
                    (r.type == protocol::RequesterType::kAdmin ? "admin" : "self-service");
  out += " request by \"" + EscapeForLog(r.id) + "\", verified by: ";
  out += methods.empty() ? "nothing" : EscapeForLog(methods);
  return out;
}

std::string ResultCell(const RuleRow& row) {
  if (row.result != RuleResult::kMatch) return std::string(RuleResultName(row.result));
  const std::string code(policy::CodeName(row.match->code));
  if (row.match->code == policy::Code::kBreakerTripped && row.match->enforced) {
    return "HOLD " + code;
  }
  return (row.match->enforced ? "DENY " : "WOULD DENY ") + code;
}

void PrintTable(const queue::RequestInfo& info, const Preview& p) {
  std::printf("Policy test (a preview: nothing was written, no user bound, nothing counted)\n");
  std::printf("  request    %s\n", Describe(info).c_str());
  std::printf("  directory  %s\n", p.directory ? p.directory->c_str() : "-");
  std::printf("  account    %s\n\n",
              p.account_dn ? EscapeForLog(*p.account_dn, 1024).c_str() : "-");
  if (p.rules.empty()) {
    std::printf("No rule applies to this request: every such request is allowed.\n\n");
  } else {
    std::printf("%-10s %-48s %-9s %s\n", "STAGE", "RULE", "MODE", "RESULT");
    for (const auto& row : p.rules) {
      std::printf("%-10s %-48s %-9s %s\n", std::string(policy::StageName(row.info.stage)).c_str(),
                  row.info.rule.c_str(), row.info.enforced ? "enforce" : "log_only",
                  ResultCell(row).c_str());
      const std::string detail = row.match ? row.match->reason : row.info.setting;
      if (!detail.empty()) std::printf("%-10s %s\n", "", EscapeForLog(detail, 1024).c_str());
    }
    std::printf("\n");
  }
  for (const auto& note : p.notes) std::printf("note: %s\n", note.c_str());
  std::printf("verdict: %s%s%s\n", p.verdict.c_str(), p.code.empty() ? "" : ", ", p.code.c_str());
  if (!p.reason.empty()) std::printf("  %s\n", EscapeForLog(p.reason, 1024).c_str());
  std::printf("the user's page: %s\n",
              std::string(protocol::UserActionName(p.user_action)).c_str());
  std::printf("%s\n", GoesThrough(p) ? "The request would be applied."
                                     : "The request would not be applied.");
}

void PrintJson(const queue::RequestInfo& info, const Preview& p) {
  const protocol::Requester r = RequesterOf(info);
  Json rules = Json::array();
  for (const auto& row : p.rules) {
    Json j{{"stage", policy::StageName(row.info.stage)},
           {"rule", row.info.rule},
           {"setting", row.info.setting},
           {"enforced", row.info.enforced},
           {"result", RuleResultName(row.result)}};
    if (row.match) {
      j["code"] = policy::CodeName(row.match->code);
      j["reason"] = row.match->reason;
    }
    rules.push_back(std::move(j));
  }
  Json out{{"request",
            {{"target", info.target},
             {"kind", info.target_kind},
             {"requester",
              {{"type", protocol::RequesterTypeName(r.type)},
               {"id", r.id},
               {"verified_by", r.verified_by}}}}},
           {"directory", p.directory ? Json(*p.directory) : Json(nullptr)},
           {"account", p.account_dn ? Json(*p.account_dn) : Json(nullptr)},
           {"rules", rules},
           {"verdict", p.verdict},
           {"code", p.code.empty() ? Json(nullptr) : Json(p.code)},
           {"reason", p.reason},
           {"user_action", protocol::UserActionName(p.user_action)},
           {"applied", GoesThrough(p)},
           {"written", false},
           {"notes", p.notes}};
  std::printf("%s\n", out.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "wbagent policy test: %s\n", message.c_str());
  return kExitUsage;
}

// The rate-limit history from the queue, read-only. Without it the limits count from zero:
// the preview says so rather than failing, because scope and verification do not need it.
std::vector<policy::PastRequest> History(const config::Config& config, const Clock& clock,
                                         std::vector<std::string>& notes) {
  const auto& l = config.policy.rate_limits;
  if (l.per_account.count == 0 && l.per_requester.count == 0 && l.overall.count == 0) return {};
  auto q = queue::Queue::Open({.state_dir = config.agent.state_dir, .read_only = true}, clock);
  Status problem = q.ok() ? Status::Ok() : q.error();
  if (q.ok()) {
    auto history = RateLimitHistory(config, **q, clock);
    if (history.ok()) return std::move(*history);
    problem = history.error();
  }
  std::string note = "the rate limits were counted without the queue's history (";
  note += problem.ToString();
  note += "): run as root or as the service user to count what the agent counts";
  notes.push_back(std::move(note));
  return {};
}

}  // namespace

int PolicyTestCommand(const PolicyTestArgs& args, const Clock& clock) {
  std::optional<Secret> password;
  if (!args.password_file.empty()) {
    auto read =
        args.password_file == "-" ? ReadPasswordFromStdin() : ReadSecretFile(args.password_file);
    if (!read.ok()) return Usage("--password-file: " + read.error().ToString());
    password = std::move(*read);
  }
  const WallTime now = clock.Now();
  auto info = RequestFor(args, now);
  if (!info.ok()) return Usage(info.error());
  auto config = config::LoadConfig(
      args.config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kExamine));
  if (!config.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(config.error()).c_str());
    return kExitUsage;
  }
  Preview preview;
  const auto history = History(*config, clock, preview.notes);
  auto policy = OpenPolicy(*config, history, clock);
  if (!policy.ok()) {
    std::fprintf(stderr, "wbagent policy test: policy: %s\n", policy.error().ToString().c_str());
    return kExitFailure;
  }
  auto router = OpenDirectories(*config, clock);
  if (!router.ok()) {
    std::fprintf(stderr, "wbagent policy test: %s\n", router.error().ToString().c_str());
    return kExitFailure;
  }
  std::vector<std::string> notes = std::move(preview.notes);
  preview = Evaluate(*info, now, **policy, **router, password ? &*password : nullptr);
  preview.notes = std::move(notes);
  if (args.json) {
    PrintJson(*info, preview);
  } else {
    PrintTable(*info, preview);
  }
  return GoesThrough(preview) ? kExitOk : kExitFailure;
}

}  // namespace wb::agent
