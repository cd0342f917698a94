// `wbagent doctor`: a read-only preflight (docs/operations.md, "Doctor first"). It wires the
// checks of the components that know each thing: the agent's own files here, the way to the
// cloud in channel/doctor.h, each directory in ldap/doctor.h. It writes nothing anywhere (no
// directory write, no user bind, no queue or audit record) and never disturbs a running agent.

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/open.h"
#include "audit/audit.h"
#include "channel/doctor.h"
#include "channel/identity.h"
#include "common/files.h"
#include "common/version.h"
#include "config/config.h"
#include "ldap/doctor.h"
#include "protocol/protocol.h"

namespace wb::agent {
namespace {

using Json = nlohmann::json;

std::string OwnerName(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return pw.pw_name;
  return "uid " + std::to_string(uid);
}

std::string ModeText(mode_t mode) {
  char out[8];
  std::snprintf(out, sizeof out, "%04o", static_cast<unsigned>(mode & 07777));
  return out;
}

// A private directory: exists, owned by the user running the doctor (or root runs it).
// `may_be_missing`: the agent makes it at its first start (the audit directory), so a doctor
// run before that (docs/operations.md, "Doctor first") does not fail for it.
// `forbidden`: the mode bits it must not have (077 for the state directory; 027 for the audit
// directory, which the agent asks for as 0750, less its umask: a trail configured outside the
// state directory may then be read by the agent's group).
CheckResult CheckPrivateDirectory(const std::string& id, const std::string& what,
                                  const std::filesystem::path& dir, mode_t forbidden,
                                  bool may_be_missing) {
  const std::string title = what + " " + dir.string();
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT && may_be_missing) {
      return CheckOk(id, title, "not created yet: the agent creates it at its first start");
    }
    return CheckFail(id, title, std::string("cannot be read: ") + std::strerror(errno),
                     "create it as the agent's user with mode 0700 (`wbagent register` does)");
  }
  if (!S_ISDIR(st.st_mode)) {
    return CheckFail(id, title, "is not a directory", "point the config at a directory");
  }
  std::string detail = "owner " + OwnerName(st.st_uid) + ", mode " + ModeText(st.st_mode);
  const uid_t me = geteuid();
  if (me != 0 && st.st_uid != me) {
    return CheckFail(id, title, detail + "; this doctor runs as " + OwnerName(me),
                     "run the doctor as the agent's user (sudo -u " + OwnerName(st.st_uid) +
                         "), or chown the directory to that user");
  }
  if ((st.st_mode & forbidden) != 0) {
    return CheckFail(id, title,
                     detail + (forbidden == 077 ? ": group or others may enter it"
                                                : ": group may write, or others may enter it"),
                     (forbidden == 077 ? "chmod 700 " : "chmod 750 ") + dir.string());
  }
  return CheckOk(id, title, detail);
}

// A key file: exists and only its owner may read or write it.
std::optional<CheckResult> KeyFileProblem(const std::string& id, const std::filesystem::path& f) {
  struct stat st {};
  if (stat(f.c_str(), &st) != 0) {
    return CheckFail(id, "keys", f.string() + " cannot be read: " + std::strerror(errno),
                     "run `wbagent register --token-file -` (it creates the agent's keys)");
  }
  if ((st.st_mode & 077) != 0) {
    return CheckFail(id, "keys", f.string() + " has mode " + ModeText(st.st_mode),
                     "chmod 600 " + f.string());
  }
  return std::nullopt;
}

CheckResult CheckKeys(const channel::StatePaths& paths) {
  const std::string id = "agent.keys";
  for (const auto& f : {paths.key(), paths.encryption_key()}) {
    if (auto problem = KeyFileProblem(id, f)) return *problem;
  }
  auto key = protocol::EcPrivateKey::Load(paths.key());
  if (!key.ok()) {
    return CheckFail(id, "keys", key.error().message(),
                     "run `wbagent register --force --token-file -` for new keys");
  }
  auto cert = channel::ReadCertificate(paths.cert());
  if (!cert.ok()) {
    return CheckFail(id, "keys", cert.error().message(),
                     "run `wbagent register --force --token-file -` for a new certificate");
  }
  if (!cert->matches(*key)) {
    return CheckFail(id, "keys",
                     paths.cert().string() + " is not the certificate of " + paths.key().string(),
                     "restore the pair from one backup, or run `wbagent register --force "
                     "--token-file -`");
  }
  return CheckOk(
      id, "keys",
      "agent.key and encryption.key are 0600; agent.crt is the certificate of agent.key");
}

CheckResult CheckCertificate(const channel::StatePaths& paths, WallTime now) {
  const std::string id = "agent.certificate";
  const std::string title = "agent certificate";
  auto cert = channel::ReadCertificate(paths.cert());
  if (!cert.ok()) {
    return CheckFail(id, title, cert.error().message(), "run `wbagent register --token-file -`");
  }
  const auto days =
      std::chrono::duration_cast<std::chrono::hours>(cert->not_after - now).count() / 24;
  std::string detail = cert->subject;
  if (now >= cert->not_after) {
    detail += ": expired ";
    detail += std::to_string(-days);
    detail += " days ago";
    return CheckFail(id, title, detail,
                     "an expired certificate cannot be renewed over the channel: run `wbagent "
                     "register --force --token-file -` with a new token");
  }
  if (now < cert->not_before) {
    return CheckFail(id, title, detail + ": not valid yet", "check this host's clock");
  }
  detail += ": ";
  detail += std::to_string(days);
  detail += " days left (renewed automatically while connected, from two thirds of its life)";
  return CheckOk(id, title, detail);
}

std::string AuditDetail(const audit::VerifyReport& report) {
  std::string detail = "verified ";
  detail += std::to_string(report.records);
  detail += report.records == 1 ? " record" : " records";
  if (report.from_seq) {
    detail += " since the checkpoint at seq ";
    detail += std::to_string(*report.from_seq);
    detail += "; `wbagent audit verify` checks the whole trail";
  } else {
    detail += ", the whole trail (no checkpoint yet)";
  }
  return detail;
}

CheckResult CheckAudit(const config::Config& c) {
  const std::string id = "agent.audit";
  const std::string title = "audit trail " + c.audit.file.string();
  audit::KeyOptions key_options;
  key_options.key_file = c.audit.key_file;
  auto key = audit::LoadKey(key_options);
  if (!key.ok()) {
    if (key.error().code() == Code::kNotFound) {
      return CheckOk(id, title, "no audit key yet: the agent creates it at its first start");
    }
    return CheckFail(id, title, key.error().message(),
                     "make audit.key_file readable by the agent's user only (0600)");
  }
  audit::VerifyOptions options;
  options.file = c.audit.file;
  options.checkpoint_file = audit::CheckpointPath(c.agent.state_dir);
  // The fast path: its cost does not grow with the trail (docs/audit.md, "The fast path").
  auto report = audit::VerifyFromCheckpoint(options, key->key);
  if (!report.ok()) {
    if (report.error().code() == Code::kNotFound) {
      return CheckOk(id, title, "no trail yet: the agent starts it at its first start");
    }
    return CheckFail(id, title, report.error().message(), "make the trail readable by the agent");
  }
  if (!report->ok()) {
    std::string detail;
    if (report->finding->seq != 0) {
      detail += "seq ";
      detail += std::to_string(report->finding->seq);
      detail += ": ";
    }
    detail += report->finding->message;
    return CheckFail(id, title, detail,
                     "see docs/audit.md, \"When the agent refuses to start because of the trail\"; "
                     "`wbagent audit verify` shows the record");
  }
  return CheckOk(id, title, AuditDetail(*report));
}

void AddAgentChecks(const config::Config& c, const Clock& clock, std::vector<CheckResult>& out) {
  const channel::StatePaths paths(c.agent.state_dir);
  out.push_back(
      CheckPrivateDirectory("agent.state_dir", "state directory", c.agent.state_dir, 077, false));
  out.push_back(CheckPrivateDirectory("agent.audit_dir", "audit directory",
                                      c.audit.file.parent_path(), 027, true));
  out.push_back(CheckKeys(paths));
  out.push_back(CheckCertificate(paths, clock.Now()));
  out.push_back(CheckAudit(c));
}

void AddCloudChecks(const config::Config& c, const Clock& clock, std::vector<CheckResult>& out) {
  const channel::StatePaths paths(c.agent.state_dir);
  // Without the agent's certificate and key no TLS handshake can be made; with them, even an
  // expired or mismatched pair is tried, so that the cloud's own answer is shown too.
  if (!std::filesystem::exists(paths.cert()) || !std::filesystem::exists(paths.key())) {
    for (const char* id :
         {"cloud.dns", "cloud.tcp", "cloud.tls", "cloud.websocket", "cloud.clock"}) {
      out.push_back(CheckSkipped(id, id + 6, "this agent has no certificate: it is not enrolled"));
    }
    return;
  }
  channel::CloudProbe probe{.cloud = &c.cloud,
                            .client_cert = paths.cert(),
                            .client_key = paths.key(),
                            .user_agent = std::string("wbagent-doctor/") + kVersion,
                            .max_clock_skew = protocol::kDefaultMaxSkew};
  for (auto& r : channel::DiagnoseCloud(probe, clock)) out.push_back(std::move(r));
}

void PrintTable(const std::vector<CheckResult>& checks) {
  for (const auto& r : checks) {
    switch (r.state) {
      case CheckState::kOk:
        std::printf("\u2713 %s: %s\n", r.title.c_str(), r.detail.c_str());
        break;
      case CheckState::kFail:
        std::printf("\u2717 %s: %s\n    fix: %s\n", r.title.c_str(), r.detail.c_str(),
                    r.fix.c_str());
        break;
      case CheckState::kSkipped:
        std::printf("- %s: skipped: %s\n", r.title.c_str(), r.detail.c_str());
        break;
    }
  }
}

void PrintJson(const std::vector<CheckResult>& checks) {
  Json list = Json::array();
  for (const auto& r : checks) {
    Json j = {{"id", r.id},
              {"title", r.title},
              {"result", CheckStateName(r.state)},
              {"detail", r.detail}};
    if (r.state == CheckState::kFail) j["fix"] = r.fix;
    list.push_back(std::move(j));
  }
  std::printf("%s\n", Json({{"checks", list}}).dump(2).c_str());
}

}  // namespace

int DoctorCommand(const DoctorArgs& args, const Clock& clock) {
  std::vector<CheckResult> checks;
  auto loaded = config::LoadConfig(
      args.config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kExamine));
  if (!loaded.ok()) {
    std::string detail;
    for (const auto& e : loaded.error()) {
      if (!detail.empty()) detail += "; ";
      detail += e.ToString();
    }
    checks.push_back(CheckFail("agent.config", "config " + args.config_file.string(), detail,
                               "fix the keys named (`wbagent check-config` lists every problem)"));
    checks.push_back(CheckSkipped("agent", "the agent, the cloud and the directories",
                                  "the config is not valid"));
  } else if (Status files = CheckPolicyFiles(*loaded, clock); !files.ok()) {
    // As check-config and the start: a banned-words file or breached list the policy cannot
    // open makes the configuration one the agent refuses.
    checks.push_back(CheckFail("agent.config", "config " + args.config_file.string(),
                               "the policy's files: " + files.ToString(),
                               "fix the file named (`wbagent check-config` says the same)"));
    checks.push_back(CheckSkipped("agent", "the agent, the cloud and the directories",
                                  "the config is not valid"));
  } else {
    checks.push_back(CheckOk("agent.config", "config " + args.config_file.string(), "valid"));
    AddAgentChecks(*loaded, clock, checks);
    AddCloudChecks(*loaded, clock, checks);
    for (const auto& d : loaded->directories) {
      for (auto& r : ldap::DiagnoseDirectory(d, clock.Now())) checks.push_back(std::move(r));
    }
  }
  if (args.json) {
    PrintJson(checks);
  } else {
    PrintTable(checks);
  }
  for (const auto& r : checks) {
    if (r.state == CheckState::kFail) return kExitFailure;
  }
  return kExitOk;
}

}  // namespace wb::agent
