#pragma once
// Test support: a private Samba 4 Active Directory domain controller, reached from the test
// over LDAPS and StartTLS on free loopback ports, with a CA made on the fly. Needs root.
//
// How it runs (see samba_dc.cc for why each step is there):
//   - A provisioned and prepared domain is kept once per build tree in
//     WB_TEST_STATE_DIR/samba-golden (about 5 s to make, guarded by a file lock, redone when
//     its stamp is missing or stale). Each Start() copies it, so a start takes about a second.
//   - samba binds the AD ports (389, 636, ...) inside a network namespace of its own,
//     "wbt-<pid>-<suffix>", with only the loopback interface up.
//   - Two socat forwarders in the root namespace listen on 127.0.0.1:<free port> and enter the
//     namespace for each connection, so the test sees ldaps://127.0.0.1:<port> and the server
//     certificate's SAN IP:127.0.0.1 verifies. No routable or private-range address is used.
//
// Directory content (realm SAMDOM.EXAMPLE.TEST, base DC=samdom,DC=example,DC=test):
//   OU=WbUsers    alice, bob, carol, dave (mail <name>@samdom.example.test), erin and frank
//                 who share mail shared@samdom.example.test (an ambiguous user), and
//                 prot-admin, a protected account: adminCount=1 and a DACL that blocks
//                 inheritance, as AD's SDProp leaves it (so OU delegations do not reach it).
//                 Every user is enabled, has UPN <name>@samdom.example.test and the initial
//                 password user_password(name). Groups made with CreateGroup live here too.
//   CN=Users      svc-wbagent: a plain Domain User with delegated rights on OU=WbUsers,
//                 inherited by user objects: Reset Password, Write lockoutTime, Write
//                 pwdLastSet, Read all properties; plus Read on the Password Settings Container
//                 (fine-grained policies). Not in any admin group.
//                 svc-norights: a plain Domain User without delegated rights.
//                 Administrator: tests use it only to prepare and inspect the directory.
// Domain policy at start: complexity on, minimum length 7, history 24, minimum age 0, no
// maximum age (the golden copy never ages out), lockout after 3 bad passwords for 30 minutes.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace wb::testing {

// Domain-wide password policy on the domain root; unset fields are left as they are.
struct AdDomainPolicy {
  std::optional<int> min_length;         // minPwdLength, start value 7
  std::optional<bool> complexity;        // pwdProperties bit 1, start value on
  std::optional<int> history_length;     // pwdHistoryLength, start value 24
  std::optional<int> min_age_days;       // minPwdAge, start value 0
  std::optional<int> max_age_days;       // maxPwdAge, start value 0 (never expires)
  std::optional<int> lockout_threshold;  // lockoutThreshold, start value 3 (0 = never)
  // lockoutDuration and lockOutObservationWindow together, start value 30.
  std::optional<int> lockout_minutes;
};

// The absolute paths of the programs the fixture runs (found at Start(), so a missing package
// is reported by name and a PATH without /usr/sbin does not matter).
struct SambaTools {
  std::string samba;
  std::string samba_tool;
  std::string ldbadd;
  std::string ldbmodify;
  std::string ldbsearch;
  std::string ip;
  std::string socat;
};

class SambaDc {
 public:
  // Non-OK when not root, when a program is missing, or when the DC does not come up; the
  // message says which. Use with WB_REQUIRE_SERVER.
  static Result<std::unique_ptr<SambaDc>> Start();
  ~SambaDc();
  SambaDc(const SambaDc&) = delete;
  SambaDc& operator=(const SambaDc&) = delete;

  std::string ldap_url() const;   // ldap://127.0.0.1:PORT (use StartTLS)
  std::string ldaps_url() const;  // ldaps://127.0.0.1:PORT
  const std::filesystem::path& ca_file() const { return ca_.cert(); }
  const TestCa& ca() const { return ca_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path log_file() const { return dir() / "samba.log"; }
  const std::string& netns() const { return netns_; }

  static std::string realm() { return "SAMDOM.EXAMPLE.TEST"; }
  static std::string dns_domain() { return "samdom.example.test"; }
  static std::string base_dn() { return "DC=samdom,DC=example,DC=test"; }
  static std::string users_ou() { return "OU=WbUsers," + base_dn(); }
  static std::string service_dn() { return "CN=svc-wbagent,CN=Users," + base_dn(); }
  static std::string service_password() { return "Wb-Service-Pass-1"; }
  static std::string norights_dn() { return "CN=svc-norights,CN=Users," + base_dn(); }
  static std::string norights_password() { return "No-Rights-Pass-1"; }
  static std::string admin_dn() { return "CN=Administrator,CN=Users," + base_dn(); }
  static std::string admin_password() { return "Samba-Admin-Pass-1"; }
  static std::string user_dn(const std::string& name) { return "CN=" + name + "," + users_ou(); }
  static std::string group_dn(const std::string& name) { return "CN=" + name + "," + users_ou(); }
  static std::string upn(const std::string& name) { return name + "@" + dns_domain(); }
  static std::string protected_user() { return "prot-admin"; }
  static std::string ambiguous_mail() { return "shared@" + dns_domain(); }
  // The password `name` was created with (prepared users or CreateUser); empty if unknown.
  // AD complexity forbids a password that contains the account name, hence no "<name>-1".
  std::string user_password(const std::string& name) const;

  // A connection bound as Administrator, for preparing and inspecting the directory.
  Result<LdapTestClient> AdminClient() const;
  // Creates `name` in OU=WbUsers, enabled, with UPN and mail <name>@samdom.example.test.
  Status CreateUser(const std::string& name, const std::string& password);
  // Creates a global security group `name` in OU=WbUsers with these member DNs (users or
  // groups); AddMember adds one more, so that groups can nest (and form a cycle).
  Status CreateGroup(const std::string& name, const std::vector<std::string>& members);
  Status AddMember(const std::string& group, const std::string& member_dn);
  // Binds with a wrong password until the DC sets a non-zero lockoutTime.
  Status LockUserByBadBinds(const std::string& name);
  Result<std::vector<std::string>> ReadAttribute(const std::string& dn,
                                                 const std::string& attribute) const;
  Status SetDomainPolicy(const AdDomainPolicy& policy);
  // Runs `samba-tool ARGS -s <smb.conf> -H <sam.ldb>` on this DC's database (safe while it
  // runs), e.g. {"domain", "passwordsettings", "pso", "create", "p1", "1", "--min-pwd-length=9"}.
  // Returns its output; non-OK with the output when it exits non-zero.
  Result<std::string> samba_tool(const std::vector<std::string>& args) const;

  // Stops samba and the forwarders (the data stays) and starts them again on the same ports:
  // a directory outage. While stopped, connections to the ports are refused.
  Status Stop();
  Status Resume();

 private:
  SambaDc();
  Status PrepareInstance();
  Status CreateNamespace();
  Status Launch();
  void StopProcesses();
  std::filesystem::path smb_conf() const { return dir() / "etc" / "smb.conf"; }
  std::filesystem::path sam_ldb() const { return dir() / "private" / "sam.ldb"; }

  // Declared first so it is removed last, after every process using it has stopped.
  TempDir dir_;
  SambaTools tools_;
  TestCa ca_;
  std::string netns_;  // empty until the namespace exists
  int ldaps_port_ = 0;
  int ldap_port_ = 0;
  std::map<std::string, std::string> created_passwords_;
  ChildProcess samba_;
  ChildProcess ldaps_forwarder_;
  ChildProcess ldap_forwarder_;
};

}  // namespace wb::testing
