#include "tests/support/samba_dc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace wb::testing {
namespace {

namespace fs = std::filesystem;

// Part of the golden copy's stamp: change it whenever the recipe below changes, so every build
// tree provisions again instead of reusing a domain prepared the old way.
constexpr char kGoldenRecipe[] = "wbagent samba golden recipe 1";
constexpr char kDirPrefix[] = "wbsamba-";
constexpr char kNetnsPrefix[] = "wbt-";
constexpr auto kReadyTimeout = std::chrono::seconds(30);

// Schema and extended-right GUIDs used in the delegation, checked against this Samba's schema:
// ldbsearch -H sam.ldb -b CN=Schema,CN=Configuration,... '(lDAPDisplayName=lockoutTime)' ...
constexpr char kUserClass[] = "bf967aba-0de6-11d0-a285-00aa003049e2";
constexpr char kResetPasswordRight[] = "00299570-246d-11d0-a768-00aa006e0529";
constexpr char kLockoutTimeAttr[] = "28630ebf-41d5-11d1-a9c1-0000f80367c1";
constexpr char kPwdLastSetAttr[] = "bf967a0a-0de6-11d0-a285-00aa003049e2";
constexpr char kChangePasswordRight[] = "ab721a53-1e2f-11d0-9819-00aa0040529b";

struct PreparedUser {
  const char* name;
  const char* password;  // complexity-compliant and free of the account name
  const char* mail;      // local part; the domain is added
  bool is_protected;     // adminCount=1 with an SDProp-like DACL
};

constexpr PreparedUser kPreparedUsers[] = {
    {"alice", "Apple-Tree-71", "alice", false},         {"bob", "Blue-Sky-72", "bob", false},
    {"carol", "Coral-Reef-73", "carol", false},         {"dave", "Deep-Sea-74", "dave", false},
    {"erin", "Elm-Grove-75", "shared", false},          {"frank", "Fern-Hill-76", "shared", false},
    {"prot-admin", "Iron-Gate-77", "prot-admin", true},
};

// ---- small process helpers ----------------------------------------------------------------

std::string Tail(const std::string& text, std::size_t max = 3000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

// Runs argv; a non-zero exit becomes an error carrying the end of the program's output.
Result<std::string> RunOrError(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return Internal(cmd + " failed (exit " + std::to_string(r.exit_code) + "): " + Tail(r.output));
  }
  return r.output;
}

Status Run(const std::vector<std::string>& argv) {
  auto r = RunOrError(argv);
  return r.ok() ? Status::Ok() : r.error();
}

// Looks in PATH and in the sbin directories, which a non-login root shell may lack.
std::string FindProgram(const std::string& name) {
  std::string dirs;
  if (const char* path = std::getenv("PATH")) dirs = path;
  dirs += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

Result<SambaTools> FindTools() {
  SambaTools t;
  const std::pair<std::string*, const char*> wanted[] = {
      {&t.samba, "samba"},         {&t.samba_tool, "samba-tool"}, {&t.ldbadd, "ldbadd"},
      {&t.ldbmodify, "ldbmodify"}, {&t.ldbsearch, "ldbsearch"},   {&t.ip, "ip"},
      {&t.socat, "socat"}};
  std::string missing;
  for (const auto& [slot, name] : wanted) {
    *slot = FindProgram(name);
    if (slot->empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
  }
  if (!missing.empty()) {
    return Unavailable("Samba AD DC fixture: missing " + missing +
                       " (run scripts/install-deps.sh)");
  }
  return t;
}

bool AllDigits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

// The entries of `dir`; none when it cannot be read (e.g. /run/netns before the first netns).
std::vector<fs::path> ListDir(const fs::path& dir) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(it->path());
  }
  return entries;
}

bool ProcessAlive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// socat forks one child per connection into the forwarder's process group: stop them all.
void StopProcessGroup(ChildProcess& child) {
  if (child.running() && child.pid() > 0) kill(-child.pid(), SIGTERM);
  child.Stop();
}

// True once something accepts TCP connections on 127.0.0.1:port.
Status TcpConnects(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(err, "connect 127.0.0.1:" + std::to_string(port));
  return Status::Ok();
}

// ---- network namespaces -------------------------------------------------------------------

// Kills what runs in `name` (samba, the forwarders' inner socats) and the forwarders in the
// root namespace that enter it, then removes it.
void DeleteNamespace(const SambaTools& tools, const std::string& name) {
  CommandResult pids = RunCommand({tools.ip, "netns", "pids", name});
  std::size_t pos = 0;
  while (pos < pids.output.size()) {
    std::size_t end = pids.output.find('\n', pos);
    if (end == std::string::npos) end = pids.output.size();
    const int pid = std::atoi(pids.output.substr(pos, end - pos).c_str());
    if (pid > 1) kill(pid, SIGKILL);
    pos = end + 1;
  }
  const std::string marker = "netns exec " + name + " ";
  for (const fs::path& proc : ListDir("/proc")) {
    const std::string pid_text = proc.filename().string();
    if (!AllDigits(pid_text)) continue;
    std::string cmdline = ReadFileOrEmpty(proc / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const int pid = std::atoi(pid_text.c_str());
    if (pid > 1 && pid != getpid() && cmdline.find(marker) != std::string::npos) {
      kill(pid, SIGKILL);
    }
  }
  (void)RunCommand({tools.ip, "netns", "del", name});
}

// The pid in "<prefix><pid>-<suffix>", or 0 when `name` is not of that form.
pid_t OwnerPid(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  const std::string rest = name.substr(prefix.size());
  const std::size_t dash = rest.find('-');
  if (dash == 0 || dash == std::string::npos) return 0;
  const std::string digits = rest.substr(0, dash);
  if (!AllDigits(digits)) return 0;
  return static_cast<pid_t>(std::atol(digits.c_str()));
}

// A test binary killed before its destructors ran leaves its namespace, samba, forwarders and
// instance directory behind. Whoever starts next removes those whose owner is dead.
void CleanStaleInstances(const SambaTools& tools) {
  for (const fs::path& netns : ListDir("/run/netns")) {
    const std::string name = netns.filename().string();
    const pid_t owner = OwnerPid(name, kNetnsPrefix);
    if (owner > 0 && owner != getpid() && !ProcessAlive(owner)) DeleteNamespace(tools, name);
  }
  const char* tmp = std::getenv("TMPDIR");
  std::error_code ec;
  for (const fs::path& dir : ListDir(tmp != nullptr ? tmp : "/tmp")) {
    const pid_t owner = OwnerPid(dir.filename().string(), kDirPrefix);
    if (owner > 0 && owner != getpid() && !ProcessAlive(owner)) fs::remove_all(dir, ec);
  }
}

// ---- the golden copy ----------------------------------------------------------------------

// An exclusive flock(2) on a file, released when destroyed (closing the descriptor drops it).
class ExclusiveLock {
 public:
  static Result<ExclusiveLock> Acquire(const fs::path& path) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open " + path.string());
    while (flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        close(fd);
        return ErrnoStatus(err, "flock " + path.string());
      }
    }
    return ExclusiveLock(fd);
  }
  ExclusiveLock(ExclusiveLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ExclusiveLock& operator=(ExclusiveLock&&) = delete;
  ~ExclusiveLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  explicit ExclusiveLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

fs::path GoldenDir() { return fs::path(WB_TEST_STATE_DIR) / "samba-golden"; }

// The recipe version and the Samba version: a Samba upgrade may change the database format.
std::string GoldenStamp(const SambaTools& tools) {
  return std::string(kGoldenRecipe) + "\n" + RunCommand({tools.samba, "-V"}).output;
}

// The unicodePwd value as LDIF wants a binary value: base64 after "::".
std::string UnicodePwdBase64(const std::string& password) {
  const std::string raw = AdUnicodePwd(password);
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string UserLdif(const std::string& dn, const std::string& name, const std::string& password,
                     const std::string& mail) {
  std::string ldif = "dn: " + dn + "\nobjectClass: user\nsAMAccountName: " + name +
                     "\nuserPrincipalName: " + SambaDc::upn(name) + "\n";
  if (!mail.empty()) ldif += "mail: " + mail + "\n";
  // 512 = NORMAL_ACCOUNT: enabled. The password must come in the same add, or AD refuses it.
  return ldif + "userAccountControl: 512\nunicodePwd:: " + UnicodePwdBase64(password) + "\n";
}

// The OU, the two service accounts and the prepared users, added offline with ldbadd (as
// system, so adminCount can be set too).
std::string AccountsLdif() {
  std::string ldif = "dn: " + SambaDc::users_ou() + "\nobjectClass: organizationalUnit\n\n";
  ldif += UserLdif(SambaDc::service_dn(), "svc-wbagent", SambaDc::service_password(), "") + "\n";
  ldif += UserLdif(SambaDc::norights_dn(), "svc-norights", SambaDc::norights_password(), "") + "\n";
  for (const auto& u : kPreparedUsers) {
    ldif += UserLdif(SambaDc::user_dn(u.name), u.name, u.password,
                     std::string(u.mail) + "@" + SambaDc::dns_domain());
    if (u.is_protected) ldif += "adminCount: 1\n";
    ldif += "\n";
  }
  return ldif;
}

// What a domain admin delegates to a writeback service account on the users' OU, as object
// ACEs inherited only by user objects (CIIO + inherited object type user): Reset Password,
// Write lockoutTime (unlock), Write pwdLastSet (require change / undo it), Read all properties.
std::string DelegationSddl(const std::string& sid) {
  auto ace = [&](const std::string& rights, const std::string& object) {
    return "(OA;CIIO;" + rights + ";" + object + ";" + kUserClass + ";" + sid + ")";
  };
  return ace("CR", kResetPasswordRight) + ace("WP", kLockoutTimeAttr) + ace("WP", kPwdLastSetAttr) +
         ace("RP", "");
}

// AD's SDProp gives adminCount=1 accounts the AdminSDHolder DACL with inheritance blocked, so
// an OU delegation never reaches them. Samba has no SDProp: set such a DACL ourselves. Users
// keep the right to change their own password.
std::string ProtectedAccountLdif(const std::string& dn) {
  const std::string full = "RPWPCRCCDCLCLORCWOWDSDDTSW";
  const std::string dacl[] = {
      "(A;;" + full + ";;;DA)",                                  // Domain Admins
      "(A;;" + full + ";;;SY)",                                  // SYSTEM
      "(A;;" + full + ";;;EA)",                                  // Enterprise Admins
      "(A;;RPWPCRCCLCLORCWOWDSDSW;;;BA)",                        // Administrators
      "(A;;RPLCLORC;;;AU)",                                      // Authenticated Users: read
      "(OA;;CR;" + std::string(kChangePasswordRight) + ";;WD)",  // Everyone: change password
      "(OA;;CR;" + std::string(kChangePasswordRight) + ";;PS)",  // SELF: change password
  };
  // "P": protected, so no ACE is inherited from the OU.
  std::string sddl = "O:DAG:DAD:P";
  for (const auto& ace : dacl) sddl += ace;
  return "dn: " + dn + "\nchangetype: modify\nreplace: nTSecurityDescriptor\n" +
         "nTSecurityDescriptor: " + sddl + "\n";
}

Result<std::string> ServiceAccountSid(const SambaTools& tools, const fs::path& sam) {
  auto out = RunOrError({tools.ldbsearch, "-H", sam.string(), "-b", SambaDc::base_dn(),
                         "(sAMAccountName=svc-wbagent)", "objectSid"});
  if (!out.ok()) return out.error();
  const std::string key = "objectSid: ";
  const std::size_t at = out->find(key);
  if (at == std::string::npos) return Internal("no objectSid for svc-wbagent: " + Tail(*out));
  const std::size_t end = out->find('\n', at);
  return out->substr(at + key.size(), end - at - key.size());
}

Status Provision(const SambaTools& tools, const fs::path& target) {
  // An empty smb.conf keeps the host's /etc/samba/smb.conf out of the provisioned domain.
  WB_RETURN_IF_ERROR(WriteFile(target / "empty.conf", ""));
  return Run({tools.samba_tool, "domain", "provision", "-s", (target / "empty.conf").string(),
              "--targetdir=" + (target / "dc").string(), "--realm=" + SambaDc::realm(),
              "--domain=SAMDOM", "--host-name=dc1", "--host-ip=127.0.0.1",
              "--adminpass=" + SambaDc::admin_password(), "--server-role=dc",
              "--dns-backend=SAMBA_INTERNAL", "--option=interfaces=lo",
              "--option=bind interfaces only=yes"});
}

// Everything the tests rely on, done offline on the golden database so each start is fast.
Status PrepareDirectory(const SambaTools& tools, const fs::path& target) {
  const fs::path dc = target / "dc";
  // The provisioned smb.conf names `target`; it serves only these offline steps; each instance
  // writes its own.
  const std::string conf = (dc / "etc" / "smb.conf").string();
  const std::string sam = (dc / "private" / "sam.ldb").string();
  // Deterministic rules: resets may repeat at once (min age 0), passwords never expire (the
  // golden copy is reused for months), three bad passwords lock for 30 minutes.
  WB_RETURN_IF_ERROR(Run({tools.samba_tool, "domain", "passwordsettings", "set", "-s", conf, "-H",
                          sam, "--complexity=on", "--min-pwd-length=7", "--history-length=24",
                          "--min-pwd-age=0", "--max-pwd-age=0", "--account-lockout-threshold=3",
                          "--account-lockout-duration=30", "--reset-account-lockout-after=30"}));
  const fs::path accounts = target / "accounts.ldif";
  WB_RETURN_IF_ERROR(WriteFile(accounts, AccountsLdif(), 0600));
  WB_RETURN_IF_ERROR(Run({tools.ldbadd, "-H", sam, accounts.string()}));
  auto sid = ServiceAccountSid(tools, sam);
  if (!sid.ok()) return sid.error();
  // dsacl set also propagates the inheritable ACEs to the users already in the OU.
  WB_RETURN_IF_ERROR(Run({tools.samba_tool, "dsacl", "set", "-s", conf, "-H", sam,
                          "--objectdn=" + SambaDc::users_ou(), "--sddl=" + DelegationSddl(*sid)}));
  // Fine-grained password policies are readable by Domain Admins only by default; the agent
  // needs to read them to check a password before it writes it.
  WB_RETURN_IF_ERROR(
      Run({tools.samba_tool, "dsacl", "set", "-s", conf, "-H", sam,
           "--objectdn=CN=Password Settings Container,CN=System," + SambaDc::base_dn(),
           "--sddl=(A;CI;RPLCLORC;;;" + *sid + ")"}));
  for (const auto& u : kPreparedUsers) {
    if (!u.is_protected) continue;
    const fs::path ldif = target / "protect.ldif";
    WB_RETURN_IF_ERROR(WriteFile(ldif, ProtectedAccountLdif(SambaDc::user_dn(u.name))));
    WB_RETURN_IF_ERROR(Run({tools.ldbmodify, "-H", sam, ldif.string()}));
  }
  return Status::Ok();
}

// Makes the golden copy unless a complete one of this recipe exists. The caller holds the
// lock. It is built in a directory of its own and renamed into place with its stamp written
// last, so a run killed half-way leaves no stamp and the next one starts over; and a
// samba-tool orphaned by that kill can only write into its own abandoned directory.
Status EnsureGolden(const SambaTools& tools) {
  const fs::path golden = GoldenDir();
  const std::string stamp = GoldenStamp(tools);
  if (ReadFileOrEmpty(golden / "stamp") == stamp) return Status::Ok();
  const std::string work_prefix = golden.filename().string() + ".tmp-";
  std::error_code ec;
  for (const fs::path& old : ListDir(golden.parent_path())) {
    if (old.filename().string().rfind(work_prefix, 0) == 0) fs::remove_all(old, ec);
  }
  const fs::path work = golden.parent_path() / (work_prefix + std::to_string(getpid()));
  fs::create_directories(work, ec);
  if (ec) return IoError("cannot create " + work.string() + ": " + ec.message());
  WB_RETURN_IF_ERROR(Provision(tools, work).WithContext("provisioning the golden copy"));
  WB_RETURN_IF_ERROR(
      PrepareDirectory(tools, work).WithContext("preparing the golden copy's directory"));
  WB_RETURN_IF_ERROR(WriteFile(work / "stamp", stamp));
  fs::remove_all(golden, ec);
  fs::rename(work, golden, ec);
  if (ec) return IoError("cannot move " + work.string() + " to " + golden.string());
  return Status::Ok();
}

std::string SmbConf(const fs::path& dir, const KeyPair& server, const fs::path& ca) {
  const std::string d = dir.string();
  const std::pair<const char*, std::string> settings[] = {
      {"netbios name", "DC1"},
      {"workgroup", "SAMDOM"},
      {"realm", SambaDc::realm()},
      {"server role", "active directory domain controller"},
      // Only the LDAP server: no smbd, DNS, KDC or replication to start or to wait for.
      {"server services", "ldap"},
      {"interfaces", "lo"},
      {"bind interfaces only", "yes"},
      // Every path under the instance directory, so instances never share a file.
      {"private dir", d + "/private"},
      {"binddns dir", d + "/bind-dns"},
      {"lock directory", d + "/lock"},
      {"state directory", d + "/state"},
      {"cache directory", d + "/cache"},
      {"pid directory", d + "/run"},
      {"ncalrpc dir", d + "/run/ncalrpc"},
      {"winbindd socket directory", d + "/run/winbindd"},
      {"ntp signd socket directory", d + "/run/ntp_signd"},
      {"usershare path", d + "/usershares"},
      // The provisioned certificate has no subjectAltName; use one that verifies.
      {"tls enabled", "yes"},
      {"tls keyfile", server.key.string()},
      {"tls certfile", server.cert.string()},
      {"tls cafile", ca.string()},
      // AD keeps accepting the previous password for 60 minutes after a reset (for NTLM
      // clients to catch up); tests that prove the old password is gone need that off.
      {"old password allowed period", "0"},
      // A throwaway database: skip fsync.
      {"ldb:nosync", "true"},
  };
  std::string conf = "[global]\n";
  for (const auto& [key, value] : settings) {
    conf.append("\t").append(key).append(" = ").append(value).append("\n");
  }
  return conf;
}

std::string Int64(int64_t v) { return std::to_string(v); }

// AD stores durations as negative counts of 100 ns.
constexpr int64_t kTicksPerMinute = 60LL * 10'000'000LL;
constexpr int64_t kTicksPerDay = 24LL * 60LL * kTicksPerMinute;

}  // namespace

SambaDc::SambaDc() : dir_(kDirPrefix + std::to_string(getpid())) {}

Result<std::unique_ptr<SambaDc>> SambaDc::Start() {
  if (geteuid() != 0) {
    return FailedPrecondition(
        "the Samba AD DC fixture needs root (it provisions a domain and makes a network "
        "namespace)");
  }
  auto tools = FindTools();
  if (!tools.ok()) return tools.error();
  CleanStaleInstances(*tools);

  std::unique_ptr<SambaDc> dc(new SambaDc());
  dc->tools_ = std::move(*tools);
  WB_RETURN_IF_ERROR(dc->PrepareInstance());
  WB_RETURN_IF_ERROR(dc->CreateNamespace());
  // A port found free may be taken before socat binds it; try a few times.
  Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    dc->ldaps_port_ = FreeLoopbackPort();
    dc->ldap_port_ = FreeLoopbackPort();
    launched = dc->Launch();
    if (launched.ok()) return dc;
  }
  return launched;
}

SambaDc::~SambaDc() {
  StopProcesses();
  if (!netns_.empty()) DeleteNamespace(tools_, netns_);
}

Status SambaDc::PrepareInstance() {
  std::error_code ec;
  fs::create_directories(GoldenDir().parent_path(), ec);
  {
    // Held while copying too: another test binary must not remake the golden copy under us.
    auto lock = ExclusiveLock::Acquire(GoldenDir().string() + ".lock");
    if (!lock.ok()) return lock.error();
    WB_RETURN_IF_ERROR(EnsureGolden(tools_));
    fs::copy(GoldenDir() / "dc" / "private", dir() / "private", fs::copy_options::recursive, ec);
    if (ec) return IoError("cannot copy the golden copy: " + ec.message());
  }
  for (const char* sub : {"etc", "bind-dns", "lock", "state", "cache", "run", "usershares"}) {
    fs::create_directories(dir() / sub, ec);
    if (ec) return IoError("cannot create " + (dir() / sub).string() + ": " + ec.message());
  }
  auto ca = TestCa::Create(dir() / "tls", "samba-test-ca");
  if (!ca.ok()) return ca.error();
  ca_ = std::move(*ca);
  auto server = ca_.IssueServer("samba-dc", {"IP:127.0.0.1", "DNS:localhost"});
  if (!server.ok()) return server.error();
  return WriteFile(smb_conf(), SmbConf(dir(), *server, ca_file()));
}

Status SambaDc::CreateNamespace() {
  // The instance directory is /tmp/wbsamba-<pid>-<random>: reuse its unique tail.
  const std::string leaf = dir().filename().string();
  const std::string name = kNetnsPrefix + leaf.substr(std::string(kDirPrefix).size());
  WB_RETURN_IF_ERROR(
      Run({tools_.ip, "netns", "add", name}).WithContext("cannot create a network namespace"));
  netns_ = name;
  return Run({tools_.ip, "netns", "exec", netns_, tools_.ip, "link", "set", "lo", "up"});
}

Status SambaDc::Launch() {
  auto samba = ChildProcess::Start({tools_.ip, "netns", "exec", netns_, tools_.samba, "-i", "-M",
                                    "single", "-s", smb_conf().string()},
                                   log_file());
  if (!samba.ok()) return samba.error();
  samba_ = std::move(*samba);
  // socat's EXEC address splits its command on spaces; the inner colons are escaped.
  auto forwarder = [&](int port, int inner_port, const std::string& log) {
    return ChildProcess::Start(
        {tools_.socat, "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,fork,reuseaddr",
         "EXEC:" + tools_.ip + " netns exec " + netns_ + " " + tools_.socat +
             " STDIO TCP\\:127.0.0.1\\:" + std::to_string(inner_port)},
        dir() / log);
  };
  auto ldaps = forwarder(ldaps_port_, 636, "forward-ldaps.log");
  if (!ldaps.ok()) return ldaps.error();
  ldaps_forwarder_ = std::move(*ldaps);
  auto ldap = forwarder(ldap_port_, 389, "forward-ldap.log");
  if (!ldap.ok()) return ldap.error();
  ldap_forwarder_ = std::move(*ldap);

  Status ready = WaitUntil([&] { return TcpConnects(ldaps_port_); }, std::chrono::seconds(5),
                           &ldaps_forwarder_);
  if (ready.ok()) {
    ready = WaitUntil([&] { return TcpConnects(ldap_port_); }, std::chrono::seconds(5),
                      &ldap_forwarder_);
  }
  if (ready.ok()) {
    ready = WaitUntil(
        [&] {
          Status s = TryUserBind(ldaps_url(), ca_file(), service_dn(), service_password());
          return s.ok() ? TryUserBind(ldap_url(), ca_file(), service_dn(), service_password()) : s;
        },
        kReadyTimeout, &samba_);
  }
  if (!ready.ok()) {
    StopProcesses();
    return ready.WithContext("samba AD DC in " + netns_ + " (log " + log_file().string() + ": " +
                             Tail(ReadFileOrEmpty(log_file())) + ")");
  }
  return Status::Ok();
}

void SambaDc::StopProcesses() {
  StopProcessGroup(ldaps_forwarder_);
  StopProcessGroup(ldap_forwarder_);
  samba_.Stop(std::chrono::seconds(5));
}

std::string SambaDc::ldap_url() const { return "ldap://127.0.0.1:" + std::to_string(ldap_port_); }

std::string SambaDc::ldaps_url() const {
  return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_);
}

std::string SambaDc::user_password(const std::string& name) const {
  for (const auto& u : kPreparedUsers) {
    if (name == u.name) return u.password;
  }
  auto it = created_passwords_.find(name);
  return it != created_passwords_.end() ? it->second : "";
}

Result<LdapTestClient> SambaDc::AdminClient() const {
  return LdapTestClient::Connect(ldaps_url(), ca_file(), admin_dn(), admin_password());
}

Status SambaDc::CreateUser(const std::string& name, const std::string& password) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  using Op = LdapMod::Op;
  WB_RETURN_IF_ERROR(admin->Add(user_dn(name), {{Op::kAdd, "objectClass", {"user"}},
                                                {Op::kAdd, "sAMAccountName", {name}},
                                                {Op::kAdd, "userPrincipalName", {upn(name)}},
                                                {Op::kAdd, "mail", {upn(name)}},
                                                {Op::kAdd, "unicodePwd", {AdUnicodePwd(password)}},
                                                {Op::kAdd, "userAccountControl", {"512"}}}));
  created_passwords_[name] = password;
  return Status::Ok();
}

Status SambaDc::CreateGroup(const std::string& name, const std::vector<std::string>& members) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  using Op = LdapMod::Op;
  std::vector<LdapMod> attributes = {{Op::kAdd, "objectClass", {"group"}},
                                     {Op::kAdd, "sAMAccountName", {name}}};
  if (!members.empty()) attributes.push_back({Op::kAdd, "member", members});
  return admin->Add(group_dn(name), attributes);
}

Status SambaDc::AddMember(const std::string& group, const std::string& member_dn) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Modify(group_dn(group), {{LdapMod::Op::kAdd, "member", {member_dn}}});
}

Status SambaDc::LockUserByBadBinds(const std::string& name) {
  constexpr int kMaxAttempts = 20;
  for (int attempt = 0; attempt <= kMaxAttempts; ++attempt) {
    auto locked = ReadAttribute(user_dn(name), "lockoutTime");
    if (!locked.ok()) return locked.error();
    if (!locked->empty() && locked->front() != "0") return Status::Ok();
    (void)TryUserBind(ldaps_url(), ca_file(), user_dn(name), "Wrong-Password-0");
  }
  return FailedPrecondition(name + " is still not locked after " + std::to_string(kMaxAttempts) +
                            " bad binds (is lockoutThreshold 0?)");
}

Result<std::vector<std::string>> SambaDc::ReadAttribute(const std::string& dn,
                                                        const std::string& attribute) const {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  return admin->Read(dn, attribute);
}

Status SambaDc::SetDomainPolicy(const AdDomainPolicy& policy) {
  auto admin = AdminClient();
  if (!admin.ok()) return admin.error();
  std::vector<LdapMod> mods;
  auto set = [&](const char* attribute, const std::string& value) {
    mods.push_back({LdapMod::Op::kReplace, attribute, {value}});
  };
  if (policy.min_length) set("minPwdLength", std::to_string(*policy.min_length));
  if (policy.history_length) set("pwdHistoryLength", std::to_string(*policy.history_length));
  if (policy.min_age_days) set("minPwdAge", Int64(-*policy.min_age_days * kTicksPerDay));
  if (policy.max_age_days) {
    // 0 means "never expires", which AD spells as the most negative value.
    set("maxPwdAge",
        *policy.max_age_days == 0 ? Int64(INT64_MIN) : Int64(-*policy.max_age_days * kTicksPerDay));
  }
  if (policy.lockout_threshold) set("lockoutThreshold", std::to_string(*policy.lockout_threshold));
  if (policy.lockout_minutes) {
    set("lockoutDuration", Int64(-*policy.lockout_minutes * kTicksPerMinute));
    set("lockOutObservationWindow", Int64(-*policy.lockout_minutes * kTicksPerMinute));
  }
  if (policy.complexity) {
    // pwdProperties holds other flags too; change only DOMAIN_PASSWORD_COMPLEX (1).
    auto current = admin->Read(base_dn(), "pwdProperties");
    if (!current.ok()) return current.error();
    int flags = current->empty() ? 0 : std::atoi(current->front().c_str());
    flags = *policy.complexity ? (flags | 1) : (flags & ~1);
    set("pwdProperties", std::to_string(flags));
  }
  if (mods.empty()) return Status::Ok();
  return admin->Modify(base_dn(), mods);
}

Result<std::string> SambaDc::samba_tool(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {tools_.samba_tool};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-s", smb_conf().string(), "-H", sam_ldb().string()});
  return RunOrError(argv);
}

Status SambaDc::Stop() {
  StopProcesses();
  return Status::Ok();
}

Status SambaDc::Resume() { return Launch(); }

}  // namespace wb::testing
