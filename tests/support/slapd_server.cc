#include "tests/support/slapd_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace wb::testing {
namespace {

// Whether something accepts TCP connections on 127.0.0.1:port.
bool AcceptsTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

constexpr char kSchemaDir[] = "/etc/ldap/schema";

std::string ConfigLdif(const std::filesystem::path& dir, const KeyPair& server,
                       const std::filesystem::path& ca) {
  const std::string svc = SlapdServer::service_dn();
  const std::string people = SlapdServer::people_dn();
  return "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n"
         "olcPidFile: " +
         (dir / "slapd.pid").string() +
         "\n"
         "olcTLSCACertificateFile: " +
         ca.string() +
         "\n"
         "olcTLSCertificateFile: " +
         server.cert.string() +
         "\n"
         "olcTLSCertificateKeyFile: " +
         server.key.string() +
         "\n"
         // Client certificates are optional; one for CN=wbagent-client binds with SASL
         // EXTERNAL as the service account.
         "olcTLSVerifyClient: try\n"
         "olcAuthzRegexp: {0}\"^cn=" +
         std::string(SlapdServer::kClientCertName) + "$\" \"" + svc +
         "\"\n\n"
         "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
         "olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb.la\n"
         "olcModuleLoad: ppolicy.la\nolcModuleLoad: memberof.la\n\n"
         "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n"
         "include: file://" +
         std::string(kSchemaDir) +
         "/core.ldif\n\n"
         "include: file://" +
         std::string(kSchemaDir) +
         "/cosine.ldif\n\n"
         "include: file://" +
         std::string(kSchemaDir) +
         "/inetorgperson.ldif\n\n"
         "include: file://" +
         std::string(kSchemaDir) +
         "/nis.ldif\n\n"
         "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
         "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n"
         "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
         "olcDatabase: {0}config\nolcAccess: {0}to * by * none\n\n"
         "dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
         "objectClass: olcMdbConfig\nolcDatabase: {1}mdb\n"
         "olcSuffix: " +
         SlapdServer::base_dn() +
         "\n"
         "olcRootDN: " +
         SlapdServer::admin_dn() +
         "\n"
         "olcRootPW: " +
         SlapdServer::admin_password() +
         "\n"
         "olcDbDirectory: " +
         (dir / "data").string() +
         "\n"
         "olcDbNoSync: TRUE\nolcDbIndex: objectClass eq\nolcDbIndex: uid,mail eq\n"
         // cn=limited gets at most one entry per search, as a server with a low size limit.
         "olcLimits: dn.exact=\"" +
         SlapdServer::limited_dn() +
         "\" size=1\n"
         // The service account may write the password and lock attributes of people, and
         // nothing else; people may change their own password; binds need auth access.
         "olcAccess: {0}to dn.subtree=\"" +
         people + "\" attrs=userPassword by dn.exact=\"" + svc +
         "\" write by self write by anonymous auth by * none\n"
         // Except the lock and must-change flag of one account: a reset can set its password,
         // not unlock it or flag it.
         "olcAccess: {1}to dn.exact=\"" +
         SlapdServer::user_dn(SlapdServer::kPasswordOnly) +
         "\" attrs=pwdAccountLockedTime,pwdReset by * read\n"
         "olcAccess: {2}to dn.subtree=\"" +
         people + "\" attrs=pwdAccountLockedTime,pwdReset by dn.exact=\"" + svc +
         "\" write by * read\n"
         "olcAccess: {3}to attrs=userPassword by self write by anonymous auth by * none\n"
         // Groups under ou=hidden exist but no one but the rootdn may see them.
         "olcAccess: {4}to dn.subtree=\"" +
         SlapdServer::hidden_groups_dn() +
         "\" by * none\n"
         "olcAccess: {5}to * by * read\n\n"
         "dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config\n"
         "objectClass: olcOverlayConfig\nobjectClass: olcPPolicyConfig\n"
         "olcOverlay: {0}ppolicy\n"
         "olcPPolicyDefault: " +
         SlapdServer::policy_dn() +
         "\n"
         "olcPPolicyHashCleartext: TRUE\nolcPPolicyUseLockout: TRUE\n\n"
         // memberOf on the members of every groupOfNames, kept up to date on renames and
         // deletes: the directory side of nested group membership.
         "dn: olcOverlay={1}memberof,olcDatabase={1}mdb,cn=config\n"
         "objectClass: olcOverlayConfig\nobjectClass: olcMemberOfConfig\n"
         "olcOverlay: {1}memberof\nolcMemberOfRefInt: TRUE\n"
         "olcMemberOfGroupOC: groupOfNames\nolcMemberOfMemberAD: member\n"
         "olcMemberOfMemberOfAD: memberOf\n\n"
         // Operation counters, readable by the rootdn: tests see when a write is in flight.
         "dn: olcDatabase={2}monitor,cn=config\nobjectClass: olcDatabaseConfig\n"
         "olcDatabase: {2}monitor\n"
         "olcAccess: {0}to * by dn.exact=\"" +
         SlapdServer::admin_dn() + "\" read by * none\n";
}

std::string UserLdif(const std::string& uid, const std::string& password, const std::string& mail) {
  return "dn: " + SlapdServer::user_dn(uid) + "\nobjectClass: inetOrgPerson\nuid: " + uid +
         "\ncn: " + uid + "\nsn: " + uid + "\ndisplayName: " + uid + " Example\nmail: " + mail +
         "\nuserPassword: " + password + "\n\n";
}

std::string DataLdif() {
  std::string ldif =
      "dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\n"
      "o: Example\ndc: example\n\n"
      "dn: ou=people,dc=example,dc=test\nobjectClass: organizationalUnit\nou: people\n\n"
      "dn: ou=services,dc=example,dc=test\nobjectClass: organizationalUnit\nou: services\n\n"
      "dn: ou=policies,dc=example,dc=test\nobjectClass: organizationalUnit\nou: policies\n\n"
      "dn: ou=groups,dc=example,dc=test\nobjectClass: organizationalUnit\nou: groups\n\n"
      "dn: ou=hidden,dc=example,dc=test\nobjectClass: organizationalUnit\nou: hidden\n\n"
      "dn: " +
      SlapdServer::policy_dn() +
      "\nobjectClass: pwdPolicy\nobjectClass: device\n"
      "cn: default\npwdAttribute: userPassword\npwdMinLength: 8\npwdInHistory: 5\n"
      "pwdCheckQuality: 2\npwdLockout: TRUE\npwdMaxFailure: 3\npwdAllowUserChange: TRUE\n\n"
      "dn: " +
      SlapdServer::service_dn() +
      "\nobjectClass: organizationalRole\n"
      "objectClass: simpleSecurityObject\ncn: wbagent\n"
      "userPassword: " +
      SlapdServer::service_password() +
      "\n\n"
      "dn: " +
      SlapdServer::norights_dn() +
      "\nobjectClass: organizationalRole\n"
      "objectClass: simpleSecurityObject\ncn: norights\n"
      "userPassword: " +
      SlapdServer::norights_password() +
      "\n\n"
      "dn: " +
      SlapdServer::limited_dn() +
      "\nobjectClass: organizationalRole\n"
      "objectClass: simpleSecurityObject\ncn: limited\n"
      "userPassword: " +
      SlapdServer::limited_password() + "\n\n";
  for (const char* uid : {"alice", "bob", "carol", "dave"}) {
    ldif += UserLdif(uid, SlapdServer::user_password(uid), std::string(uid) + "@example.test");
  }
  for (const char* uid : {"erin", "frank"}) {
    ldif += UserLdif(uid, SlapdServer::user_password(uid), "shared@example.test");
  }
  return ldif;
}

Status Slapadd(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"slapadd"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) return Internal("slapadd failed: " + r.output);
  return Status::Ok();
}

std::vector<LdapMod> PolicyMods(const PpolicySettings& s) {
  std::vector<LdapMod> mods;
  auto add = [&](const char* attr, const std::optional<int>& v) {
    if (v) mods.push_back({LdapMod::Op::kReplace, attr, {std::to_string(*v)}});
  };
  add("pwdMinLength", s.min_length);
  add("pwdMaxLength", s.max_length);
  add("pwdInHistory", s.in_history);
  add("pwdMinAge", s.min_age);
  add("pwdMaxFailure", s.max_failure);
  add("pwdCheckQuality", s.check_quality);
  auto add_flag = [&](const char* attr, const std::optional<bool>& v) {
    if (v) mods.push_back({LdapMod::Op::kReplace, attr, {*v ? "TRUE" : "FALSE"}});
  };
  add_flag("pwdMustChange", s.must_change);
  add_flag("pwdSafeModify", s.safe_modify);
  return mods;
}

}  // namespace

Result<std::unique_ptr<SlapdServer>> SlapdServer::Start() {
  if (!std::filesystem::exists("/usr/sbin/slapd")) {
    return Unavailable("slapd is not installed (run scripts/install-deps.sh)");
  }
  std::unique_ptr<SlapdServer> server(new SlapdServer());
  auto ca = TestCa::Create(server->dir() / "tls", "slapd-test-ca");
  if (!ca.ok()) return ca.error();
  server->ca_ = std::move(*ca);
  WB_RETURN_IF_ERROR(server->WriteConfig());
  // A port found free may be taken before slapd binds it; try a few times.
  Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    server->ldap_port_ = FreeLoopbackPort();
    server->ldaps_port_ = FreeLoopbackPort();
    launched = server->Launch();
    if (launched.ok()) return server;
  }
  return launched;
}

SlapdServer::~SlapdServer() { process_.Stop(); }

Status SlapdServer::WriteConfig() {
  auto server_cert = ca_.IssueServer("slapd-server");
  if (!server_cert.ok()) return server_cert.error();
  server_cert_ = *server_cert;
  const auto slapd_d = dir() / "slapd.d";
  std::filesystem::create_directories(slapd_d);
  std::filesystem::create_directories(dir() / "data");
  WB_RETURN_IF_ERROR(WriteFile(dir() / "config.ldif", ConfigLdif(dir(), *server_cert, ca_file())));
  WB_RETURN_IF_ERROR(WriteFile(dir() / "data.ldif", DataLdif()));
  WB_RETURN_IF_ERROR(
      Slapadd({"-n0", "-F", slapd_d.string(), "-l", (dir() / "config.ldif").string()}));
  return Slapadd({"-q", "-n1", "-F", slapd_d.string(), "-l", (dir() / "data.ldif").string()});
}

Status SlapdServer::Launch(bool verified) {
  const std::string listen = ldap_url() + "/ " + ldaps_url() + "/";
  auto child = ChildProcess::Start(
      {"/usr/sbin/slapd", "-d", "0", "-F", (dir() / "slapd.d").string(), "-h", listen},
      dir() / "slapd.log");
  if (!child.ok()) return child.error();
  process_ = std::move(*child);
  Status ready = WaitUntil(
      [&] {
        if (!verified) {
          return AcceptsTcp(ldap_port_) && AcceptsTcp(ldaps_port_)
                     ? Status::Ok()
                     : Unavailable("slapd does not accept connections yet");
        }
        auto c = LdapTestClient::Connect(ldap_url(), ca_file(), service_dn(), service_password());
        return c.ok() ? Status::Ok() : c.error();
      },
      std::chrono::seconds(10), &process_);
  if (!ready.ok()) {
    process_.Stop();
    return ready.WithContext("slapd (log " + (dir() / "slapd.log").string() + ": " +
                             ReadFileOrEmpty(dir() / "slapd.log") + ")");
  }
  return Status::Ok();
}

std::string SlapdServer::ldap_url() const {
  return "ldap://127.0.0.1:" + std::to_string(ldap_port_);
}

std::string SlapdServer::ldaps_url() const {
  return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_);
}

Result<LdapTestClient> SlapdServer::AdminClient() const {
  return LdapTestClient::Connect(ldaps_url(), ca_file(), admin_dn(), admin_password());
}

Status SlapdServer::CreateUser(const std::string& uid, const std::string& password) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Add(user_dn(uid), {{LdapMod::Op::kAdd, "objectClass", {"inetOrgPerson"}},
                                   {LdapMod::Op::kAdd, "uid", {uid}},
                                   {LdapMod::Op::kAdd, "cn", {uid}},
                                   {LdapMod::Op::kAdd, "sn", {uid}},
                                   {LdapMod::Op::kAdd, "mail", {uid + "@example.test"}},
                                   {LdapMod::Op::kAdd, "userPassword", {password}}});
}

Status SlapdServer::CreateGroup(const std::string& dn, const std::vector<std::string>& members) {
  if (dn.rfind("cn=", 0) != 0 || dn.find(',') == std::string::npos) {
    return InvalidArgument("CreateGroup needs a DN \"cn=NAME,PARENT\": " + dn);
  }
  const std::string cn = dn.substr(3, dn.find(',') - 3);
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Add(dn, {{LdapMod::Op::kAdd, "objectClass", {"groupOfNames"}},
                         {LdapMod::Op::kAdd, "cn", {cn}},
                         {LdapMod::Op::kAdd, "member", members}});
}

Status SlapdServer::AddMember(const std::string& group_dn, const std::string& member_dn) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Modify(group_dn, {{LdapMod::Op::kAdd, "member", {member_dn}}});
}

Status SlapdServer::LockUserByBadBinds(const std::string& uid) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto locked = ReadAttribute(user_dn(uid), "pwdAccountLockedTime");
    if (!locked.ok()) return locked.error();
    if (!locked->empty()) return Status::Ok();
    (void)TryUserBind(ldaps_url(), ca_file(), user_dn(uid), "wrong-password");
  }
  return FailedPrecondition(uid + " is still not locked after 10 bad binds");
}

Result<std::vector<std::string>> SlapdServer::ReadAttribute(const std::string& dn,
                                                            const std::string& attribute) const {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Read(dn, attribute);
}

Status SlapdServer::SetPolicy(const PpolicySettings& settings) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Modify(policy_dn(), PolicyMods(settings));
}

Result<int> SlapdServer::OperationsInFlight(const std::string& kind) const {
  const std::string dn = "cn=" + kind + ",cn=Operations,cn=Monitor";
  auto initiated = ReadAttribute(dn, "monitorOpInitiated");
  if (!initiated.ok()) return initiated.error();
  auto completed = ReadAttribute(dn, "monitorOpCompleted");
  if (!completed.ok()) return completed.error();
  if (initiated->size() != 1 || completed->size() != 1) {
    return Internal("no operation counters at " + dn);
  }
  return std::stoi(initiated->front()) - std::stoi(completed->front());
}

Result<std::unique_ptr<WriteHold>> SlapdServer::HoldWrites() const {
  return WriteHold::Start(dir() / "data");
}

Status SlapdServer::Stop() {
  process_.Stop();
  return Status::Ok();
}

Status SlapdServer::Resume() { return Launch(); }

Status SlapdServer::ServeCertificate(const KeyPair& cert) {
  WB_RETURN_IF_ERROR(Stop());
  std::error_code ec;
  for (const auto& [from, to] :
       {std::pair{cert.cert, server_cert_.cert}, {cert.key, server_cert_.key}}) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Internal("cannot copy " + from.string() + ": " + ec.message());
  }
  return Launch(/*verified=*/false);
}

}  // namespace wb::testing
