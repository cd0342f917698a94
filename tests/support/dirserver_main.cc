// wb-test-dirserver: starts a throwaway directory (the test fixtures' slapd or Samba AD DC)
// for scripts/demo.sh and runs until SIGTERM/SIGINT, then stops it and removes its files.
//
//   wb-test-dirserver slapd|samba --out DIR [--users N]
// writes DIR/directory.toml (a [[directory]] table for wbagent, with DIR/bind.password),
// DIR/directory.env (shell variables for the demo: where the server is, and what the demo
// needs to check its proofs against it) and DIR/ready last. DIR/admin.password holds the
// throwaway server's administrator password, with which the demo reads lockout and
// must-change state. With --users N it also creates the users load0 .. load{N-1} (for
// bench/load.sh) and lists them in DIR/users, one per line.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "tests/support/samba_dc.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

struct Facts {
  std::string kind;  // "openldap" or "ad"
  std::string ldaps_url;
  std::string ca_file;
  std::string bind_dn;
  std::string bind_password;
  std::string base_dn;
  std::string user_kind;    // how the demo names users: "uid" or "sam"
  std::string user_dn_fmt;  // printf format with one %s
  std::string lookup;       // TOML array
  std::string extra_toml;
  std::string admin_dn;
  std::string admin_password;
  std::map<std::string, std::string> initial_passwords;  // of the demo's users
  // The attribute that holds a lockout, and the one (with its value) that says "must change
  // the password at next logon".
  std::string lockout_attribute;
  std::string must_change_attribute;
  std::string must_change_value;
  std::string too_short_outcome;  // the outcome code of the demo's too-short password
};

constexpr const char* kDemoUsers[] = {"alice", "bob", "carol", "dave"};

std::string EnvLines(const Facts& f) {
  std::string env;
  const auto line = [&](const std::string& name, const std::string& value) {
    env.append(name).append("='").append(value).append("'\n");
  };
  line("WB_DIR_KIND", f.kind);
  line("WB_LDAPS_URL", f.ldaps_url);
  line("WB_CA_FILE", f.ca_file);
  line("WB_USER_KIND", f.user_kind);
  line("WB_USER_DN_FMT", f.user_dn_fmt);
  line("WB_ADMIN_DN", f.admin_dn);
  line("WB_LOCKOUT_ATTR", f.lockout_attribute);
  line("WB_MUST_CHANGE_ATTR", f.must_change_attribute);
  line("WB_MUST_CHANGE_VALUE", f.must_change_value);
  line("WB_TOO_SHORT_OUTCOME", f.too_short_outcome);
  for (const auto& [user, password] : f.initial_passwords) {
    line("WB_INITIAL_PASSWORD_" + user, password);
  }
  return env;
}

Status Write(const std::filesystem::path& out, const Facts& f) {
  WB_RETURN_IF_ERROR(WriteFile(out / "bind.password", f.bind_password, 0600));
  WB_RETURN_IF_ERROR(WriteFile(
      out / "directory.toml",
      "[[directory]]\nname = \"demo\"\nkind = \"" + f.kind + "\"\nurls = [\"" + f.ldaps_url +
          "\"]\nca_file = \"" + f.ca_file + "\"\nbind_dn = \"" + f.bind_dn +
          "\"\nbind_password_file = \"" + (out / "bind.password").string() + "\"\nbase_dn = \"" +
          f.base_dn + "\"\nlookup_attributes = " + f.lookup + "\n" + f.extra_toml));
  WB_RETURN_IF_ERROR(WriteFile(out / "admin.password", f.admin_password, 0600));
  WB_RETURN_IF_ERROR(WriteFile(out / "directory.env", EnvLines(f)));
  return WriteFile(out / "ready", "");
}

Facts SlapdFacts(const SlapdServer& s) {
  Facts f{.kind = "openldap",
          .ldaps_url = s.ldaps_url(),
          .ca_file = s.ca_file().string(),
          .bind_dn = SlapdServer::service_dn(),
          .bind_password = SlapdServer::service_password(),
          .base_dn = SlapdServer::base_dn(),
          .user_kind = "uid",
          .user_dn_fmt = "uid=%s," + SlapdServer::people_dn(),
          .lookup = "[\"uid\", \"mail\", \"dn\"]",
          .extra_toml = "ppolicy_default_dn = \"" + SlapdServer::policy_dn() + "\"\n",
          .admin_dn = SlapdServer::admin_dn(),
          .admin_password = SlapdServer::admin_password(),
          .initial_passwords = {},
          // ppolicy: the lock is pwdAccountLockedTime, cleared by removing it; pwdReset=TRUE
          // asks for a change at next bind. The fixture's pwdMinLength is 8.
          .lockout_attribute = "pwdAccountLockedTime",
          .must_change_attribute = "pwdReset",
          .must_change_value = "TRUE",
          .too_short_outcome = "policy_too_short"};
  for (const char* user : kDemoUsers) f.initial_passwords[user] = SlapdServer::user_password(user);
  return f;
}

Facts SambaFacts(const SambaDc& s) {
  Facts f{.kind = "ad",
          .ldaps_url = s.ldaps_url(),
          .ca_file = s.ca_file().string(),
          .bind_dn = SambaDc::service_dn(),
          .bind_password = SambaDc::service_password(),
          .base_dn = SambaDc::base_dn(),
          .user_kind = "sam",
          .user_dn_fmt = "CN=%s," + SambaDc::users_ou(),
          .lookup = "[\"userPrincipalName\", \"sAMAccountName\", \"mail\", \"dn\"]",
          .extra_toml = "history_on_reset = \"when_supported\"\n",
          .admin_dn = SambaDc::admin_dn(),
          .admin_password = SambaDc::admin_password(),
          .initial_passwords = {},
          // AD: lockoutTime is non-zero while locked and 0 once unlocked; pwdLastSet=0 asks
          // for a change at next logon. The DC's minimum length is 7, with complexity on.
          .lockout_attribute = "lockoutTime",
          .must_change_attribute = "pwdLastSet",
          .must_change_value = "0",
          .too_short_outcome = "policy_too_short"};
  for (const char* user : kDemoUsers) f.initial_passwords[user] = s.user_password(user);
  return f;
}

constexpr const char* kLoadPassword = "Load-Initial-1x";

// The bench's users: load0 .. load{count-1}, listed in out/users.
template <class Server>
Status CreateLoadUsers(Server& server, int count, const std::filesystem::path& out) {
  std::string list;
  for (int i = 0; i < count; ++i) {
    std::string name = "load";
    name += std::to_string(i);
    WB_RETURN_IF_ERROR(server.CreateUser(name, kLoadPassword));
    list += name;
    list += '\n';
  }
  return WriteFile(out / "users", list);
}

// REQUIRES: SIGTERM and SIGINT blocked (main does it before any thread starts).
int WaitForStop() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "wb-test-dirserver: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace
}  // namespace wb::testing

int main(int argc, char** argv) {
  using namespace wb::testing;
  const bool with_users = argc == 6 && std::strcmp(argv[4], "--users") == 0;
  if ((argc != 4 && !with_users) || std::strcmp(argv[2], "--out") != 0) {
    std::fprintf(stderr, "usage: wb-test-dirserver slapd|samba --out DIR [--users N]\n");
    return 2;
  }
  const int users = with_users ? std::atoi(argv[5]) : 0;
  if (with_users && (users < 1 || users > 100000)) {
    std::fprintf(stderr, "wb-test-dirserver: --users takes 1 to 100000\n");
    return 2;
  }
  const std::string kind = argv[1];
  const std::filesystem::path out = argv[3];
  // Block the stop signals before any thread starts, so sigwait sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (kind == "slapd") {
    auto server = SlapdServer::Start();
    if (!server.ok()) return Fail(server.error());
    if (users > 0) {
      if (auto s = CreateLoadUsers(**server, users, out); !s.ok()) return Fail(s);
    }
    if (auto s = Write(out, SlapdFacts(**server)); !s.ok()) return Fail(s);
    return WaitForStop();
  }
  if (kind == "samba") {
    auto server = SambaDc::Start();
    if (!server.ok()) return Fail(server.error());
    if (users > 0) {
      if (auto s = CreateLoadUsers(**server, users, out); !s.ok()) return Fail(s);
    }
    if (auto s = Write(out, SambaFacts(**server)); !s.ok()) return Fail(s);
    return WaitForStop();
  }
  std::fprintf(stderr, "wb-test-dirserver: unknown server '%s' (slapd or samba)\n", kind.c_str());
  return 2;
}
