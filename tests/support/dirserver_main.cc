// wb-test-dirserver: starts a throwaway directory (the test fixtures' slapd or Samba AD DC)
// for scripts/demo.sh and runs until SIGTERM/SIGINT, then stops it and removes its files.
//
//   wb-test-dirserver slapd|samba --out DIR
// writes DIR/directory.toml (a [[directory]] table for wbagent, with DIR/bind.password),
// DIR/directory.env (shell variables for the demo) and DIR/ready last.
#include <signal.h>

#include <cstdio>
#include <cstring>
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
};

Status Write(const std::filesystem::path& out, const Facts& f) {
  WB_RETURN_IF_ERROR(WriteFile(out / "bind.password", f.bind_password, 0600));
  WB_RETURN_IF_ERROR(WriteFile(
      out / "directory.toml",
      "[[directory]]\nname = \"demo\"\nkind = \"" + f.kind + "\"\nurls = [\"" + f.ldaps_url +
          "\"]\nca_file = \"" + f.ca_file + "\"\nbind_dn = \"" + f.bind_dn +
          "\"\nbind_password_file = \"" + (out / "bind.password").string() +
          "\"\nbase_dn = \"" + f.base_dn + "\"\nlookup_attributes = " + f.lookup + "\n" +
          f.extra_toml));
  WB_RETURN_IF_ERROR(WriteFile(
      out / "directory.env",
      "WB_DIR_KIND='" + f.kind + "'\nWB_LDAPS_URL='" + f.ldaps_url + "'\nWB_CA_FILE='" +
          f.ca_file + "'\nWB_USER_KIND='" + f.user_kind + "'\nWB_USER_DN_FMT='" +
          f.user_dn_fmt + "'\n"));
  return WriteFile(out / "ready", "");
}

Facts SlapdFacts(const SlapdServer& s) {
  return {"openldap", s.ldaps_url(), s.ca_file().string(), SlapdServer::service_dn(),
          SlapdServer::service_password(), SlapdServer::base_dn(), "uid",
          "uid=%s," + SlapdServer::people_dn(), "[\"uid\", \"mail\", \"dn\"]",
          "ppolicy_default_dn = \"" + SlapdServer::policy_dn() + "\"\n"};
}

Facts SambaFacts(const SambaDc& s) {
  return {"ad", s.ldaps_url(), s.ca_file().string(), SambaDc::service_dn(),
          SambaDc::service_password(), SambaDc::base_dn(), "sam",
          "CN=%s," + SambaDc::users_ou(),
          "[\"userPrincipalName\", \"sAMAccountName\", \"mail\", \"dn\"]",
          "history_on_reset = \"when_supported\"\n"};
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
  if (argc != 4 || std::strcmp(argv[2], "--out") != 0) {
    std::fprintf(stderr, "usage: wb-test-dirserver slapd|samba --out DIR\n");
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
    if (auto s = Write(out, SlapdFacts(**server)); !s.ok()) return Fail(s);
    return WaitForStop();
  }
  if (kind == "samba") {
    auto server = SambaDc::Start();
    if (!server.ok()) return Fail(server.error());
    if (auto s = Write(out, SambaFacts(**server)); !s.ok()) return Fail(s);
    return WaitForStop();
  }
  std::fprintf(stderr, "wb-test-dirserver: unknown server '%s' (slapd or samba)\n", kind.c_str());
  return 2;
}
