#pragma once
// Test support: a private OpenLDAP slapd (mdb + ppolicy + memberof) on free loopback ports,
// with LDAPS and StartTLS on a test CA made on the fly. Ready in well under a second; no root
// needed.
//
// Directory layout (base dc=example,dc=test):
//   ou=people     users alice, bob, carol, dave (password "<name>-Initial-1"), plus
//                 erin and frank who share mail "shared@example.test" (an ambiguous user)
//   ou=services   cn=wbagent: *write* (not manage) on userPassword, pwdAccountLockedTime and
//                 pwdReset under ou=people, so ppolicy checks apply to its resets (but not
//                 pwdAccountLockedTime or pwdReset of uid=kPasswordOnly, which no test
//                 creates at start: a reset can set its password, nothing else);
//                 cn=norights: read only
//                 cn=limited: read only, and a size limit of 1 (olcLimits size=1): a search
//                 that matches more entries returns one and sizeLimitExceeded
//   ou=policies   cn=default: the default ppolicy (see PpolicySettings for the start values)
//   ou=groups     empty at start; groupOfNames made with CreateGroup. The memberof overlay
//                 (olcMemberOfRefInt TRUE) keeps memberOf on every member, users and groups.
//   ou=hidden     empty at start; entries below it are invisible to everyone but the rootdn
//                 (memberOf values naming them stay visible on their members).
// The rootdn cn=admin,dc=example,dc=test bypasses every check; tests use it only to prepare
// and inspect the directory.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace wb::testing {

struct PpolicySettings {
  std::optional<int> min_length;     // pwdMinLength, start value 8
  std::optional<int> max_length;     // pwdMaxLength, start value 0 (none)
  std::optional<int> in_history;     // pwdInHistory, start value 5
  std::optional<int> min_age;        // pwdMinAge seconds, start value 0
  std::optional<int> max_failure;    // pwdMaxFailure, start value 3 (pwdLockout TRUE)
  std::optional<int> check_quality;  // pwdCheckQuality, start value 2
  std::optional<bool> must_change;   // pwdMustChange, start value FALSE (absent)
  std::optional<bool> safe_modify;   // pwdSafeModify, start value FALSE (absent)
};

// Holds LMDB's writer lock on a slapd database, as a long write transaction would: reads go
// on, every write waits inside slapd until the hold ends. Lets a test freeze a write
// at a known point: sent, received by slapd, not yet applied.
class WriteHold {
 public:
  static Result<std::unique_ptr<WriteHold>> Start(const std::filesystem::path& db_dir);
  ~WriteHold();  // Release()
  WriteHold(const WriteHold&) = delete;
  WriteHold& operator=(const WriteHold&) = delete;
  // Ends the hold; the waiting writes go on. Idempotent.
  void Release();

 private:
  WriteHold() = default;
  struct State;
  // A write transaction belongs to the thread that began it: one thread begins, waits, aborts.
  static void HoldOnThisThread(const std::filesystem::path& db_dir, State& s);
  std::unique_ptr<State> state_;
};

class SlapdServer {
 public:
  // A client certificate with this common name (from ca().IssueClient) binds with SASL
  // EXTERNAL as service_dn().
  static constexpr char kClientCertName[] = "wbagent-client";
  // A uid whose pwdAccountLockedTime and pwdReset the service account may read, not write.
  static constexpr char kPasswordOnly[] = "password-only";

  static Result<std::unique_ptr<SlapdServer>> Start();
  ~SlapdServer();
  SlapdServer(const SlapdServer&) = delete;
  SlapdServer& operator=(const SlapdServer&) = delete;

  std::string ldap_url() const;   // ldap://127.0.0.1:PORT (use StartTLS)
  std::string ldaps_url() const;  // ldaps://127.0.0.1:PORT
  const std::filesystem::path& ca_file() const { return ca_.cert(); }
  const TestCa& ca() const { return ca_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  pid_t pid() const { return process_.pid(); }  // the running slapd, -1 when stopped

  static std::string base_dn() { return "dc=example,dc=test"; }
  static std::string people_dn() { return "ou=people,dc=example,dc=test"; }
  static std::string policy_dn() { return "cn=default,ou=policies,dc=example,dc=test"; }
  static std::string service_dn() { return "cn=wbagent,ou=services,dc=example,dc=test"; }
  static std::string service_password() { return "Svc-Wbagent-Pass-1"; }
  static std::string norights_dn() { return "cn=norights,ou=services,dc=example,dc=test"; }
  static std::string norights_password() { return "Svc-NoRights-Pass-1"; }
  static std::string limited_dn() { return "cn=limited,ou=services,dc=example,dc=test"; }
  static std::string limited_password() { return "Svc-Limited-Pass-1"; }
  static std::string admin_dn() { return "cn=admin,dc=example,dc=test"; }
  static std::string admin_password() { return "Admin-Pass-1"; }
  static std::string user_dn(const std::string& uid) { return "uid=" + uid + "," + people_dn(); }
  static std::string user_password(const std::string& uid) { return uid + "-Initial-1"; }
  static std::string groups_dn() { return "ou=groups,dc=example,dc=test"; }
  static std::string group_dn(const std::string& cn) { return "cn=" + cn + "," + groups_dn(); }
  static std::string hidden_groups_dn() { return "ou=hidden,dc=example,dc=test"; }

  // A connection bound as the rootdn, for preparing and inspecting the directory.
  Result<LdapTestClient> AdminClient() const;
  Status CreateUser(const std::string& uid, const std::string& password);
  // A groupOfNames at `dn` ("cn=NAME,..."; groupOfNames needs at least one member), added
  // over LDAP so that the memberof overlay sets memberOf on the members.
  Status CreateGroup(const std::string& dn, const std::vector<std::string>& members);
  Status AddMember(const std::string& group_dn, const std::string& member_dn);
  // Binds with a wrong password until ppolicy sets pwdAccountLockedTime.
  Status LockUserByBadBinds(const std::string& uid);
  Result<std::vector<std::string>> ReadAttribute(const std::string& dn,
                                                 const std::string& attribute) const;
  Status SetPolicy(const PpolicySettings& settings);
  // Operations of `kind` ("Extended", "Modify", "Search", ... as in cn=Monitor) slapd has
  // started and not yet answered.
  Result<int> OperationsInFlight(const std::string& kind) const;
  // See WriteHold.
  Result<std::unique_ptr<WriteHold>> HoldWrites() const;

  // Stops slapd (the data stays) and starts it again on the same ports: a server outage.
  Status Stop();
  Status Resume();

  // Restarts slapd serving `cert` (e.g. from ca().IssueServer, for another host name or
  // already expired) on both ports, until the next call. Ready once slapd accepts TCP: a
  // client may not be able to verify `cert`, which is what such a test is about.
  Status ServeCertificate(const KeyPair& cert);

 private:
  SlapdServer() = default;
  Status WriteConfig();
  // `verified`: ready once the service account binds over StartTLS; otherwise once slapd
  // accepts TCP on both ports.
  Status Launch(bool verified = true);
  TempDir dir_{"wbslapd"};
  TestCa ca_;
  KeyPair server_cert_;  // the files olcTLSCertificateFile and ...KeyFile name
  ChildProcess process_;
  int ldap_port_ = 0;
  int ldaps_port_ = 0;
};

}  // namespace wb::testing
