#include "tests/support/test_ca.h"

#include <ctime>
#include <filesystem>

#include "tests/support/process.h"

namespace wb::testing {
namespace {

Status Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) return Internal("openssl " + args[0] + " failed: " + r.output);
  return Status::Ok();
}

Status MakeKey(const std::filesystem::path& key) {
  WB_RETURN_IF_ERROR(Openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-out", key.string()}));
  std::filesystem::permissions(
      key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return Status::Ok();
}

// openssl x509 -days cannot start a certificate in the past or future; `ca -startdate` can,
// but needs a CA database. A minimal one per issue keeps this self-contained.
std::string Date(int offset_days) {
  std::time_t t = std::time(nullptr) + static_cast<std::time_t>(offset_days) * 86400;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

Result<TestCa> TestCa::Create(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir);
  TestCa ca;
  ca.dir_ = dir;
  ca.ca_ = {dir / (name + ".pem"), dir / (name + ".key")};
  WB_RETURN_IF_ERROR(MakeKey(ca.ca_.key));
  WB_RETURN_IF_ERROR(
      Openssl({"req", "-x509", "-new", "-key", ca.ca_.key.string(), "-sha256", "-days", "3650",
               "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
               "keyUsage=critical,keyCertSign,cRLSign", "-out", ca.ca_.cert.string()}));
  return ca;
}

Result<KeyPair> TestCa::Issue(const std::string& name, const std::string& subject,
                              const std::string& extensions, int days, int not_before_days) const {
  KeyPair pair{dir_ / (name + ".pem"), dir_ / (name + ".key")};
  const auto csr = dir_ / (name + ".csr");
  const auto ext = dir_ / (name + ".ext");
  const auto db = dir_ / (name + ".db");
  const auto conf = dir_ / (name + ".cnf");
  WB_RETURN_IF_ERROR(MakeKey(pair.key));
  WB_RETURN_IF_ERROR(
      Openssl({"req", "-new", "-key", pair.key.string(), "-subj", subject, "-out", csr.string()}));
  WB_RETURN_IF_ERROR(WriteFile(db, ""));
  WB_RETURN_IF_ERROR(
      WriteFile(conf, "[ca]\ndefault_ca=d\n[d]\ndatabase=" + db.string() + "\nnew_certs_dir=" +
                          dir_.string() + "\nserial=" + (dir_ / (name + ".srl")).string() +
                          "\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\n"
                          "[p]\ncommonName=supplied\n[x]\n" +
                          extensions));
  WB_RETURN_IF_ERROR(WriteFile(dir_ / (name + ".srl"), "01\n"));
  WB_RETURN_IF_ERROR(Openssl({"ca", "-batch", "-config", conf.string(), "-cert", ca_.cert.string(),
                              "-keyfile", ca_.key.string(), "-in", csr.string(), "-out",
                              pair.cert.string(), "-startdate", Date(not_before_days), "-enddate",
                              Date(not_before_days + days), "-extensions", "x", "-notext"}));
  return pair;
}

Result<KeyPair> TestCa::IssueServer(const std::string& name, std::vector<std::string> sans,
                                    int days, int not_before_days) const {
  std::string san_list;
  for (const auto& s : sans) san_list += (san_list.empty() ? "" : ",") + s;
  return Issue(name, "/CN=" + name,
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=serverAuth\nsubjectAltName=" +
                   san_list + "\n",
               days, not_before_days);
}

Result<KeyPair> TestCa::IssueClient(const std::string& common_name, int days) const {
  return Issue(common_name, "/CN=" + common_name,
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=clientAuth\n",
               days, 0);
}

}  // namespace wb::testing
