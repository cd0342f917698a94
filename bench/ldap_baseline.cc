// ldap_baseline: the directory work of one password reset, exactly as wbagent does it, and
// nothing else: the baseline that bench/load.sh compares the agent against (issue #18).
//
// C++ on libldap directly (not wbagent's ldap/ code), over `--connections` persistent LDAPS
// connections (the agent's default pool_size is 4), each bound once as the service account.
// Per reset, as ldap/openldap.cc and ldap/ad.cc do it:
//   openldap: the lookup (a subtree search by uid for the account's attributes), the RFC 3062
//             Password Modify operation with the ppolicy request control, and the base search
//             for a pwdReset left behind (ClearPwdResetIfSet);
//   ad:       the lookup (a subtree search by sAMAccountName), the base search for the
//             constructed attributes, and one modify replacing unicodePwd.
// Requests are spread over the users round robin, as many at once as there are connections
// (a closed loop). Prints throughput and exact p50/p99/max; `--json` prints one object.
//
//   ldap_baseline --url ldaps://127.0.0.1:PORT --ca-file CA --bind-dn DN
//                 --bind-password-file FILE --base-dn DN --users alice,bob,...
//                 [--kind openldap|ad] [--requests 2000] [--connections 4] [--json]

#define LDAP_DEPRECATED 0
#include <ldap.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/percentile.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string url, ca_file, bind_dn, bind_password, base_dn, kind = "openldap";
  std::vector<std::string> users;
  int requests = 2000;
  int connections = 4;
  bool json = false;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "ldap_baseline: %s\n", message.c_str());
  std::exit(2);
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      a.json = true;
      continue;
    }
    if (i + 1 >= argc) Die(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--url") {
      a.url = value;
    } else if (flag == "--ca-file") {
      a.ca_file = value;
    } else if (flag == "--bind-dn") {
      a.bind_dn = value;
    } else if (flag == "--bind-password-file") {
      std::ifstream in(value);
      std::getline(in, a.bind_password);
      if (!in && a.bind_password.empty()) Die("cannot read " + value);
    } else if (flag == "--base-dn") {
      a.base_dn = value;
    } else if (flag == "--users") {
      a.users = Split(value);
    } else if (flag == "--kind") {
      a.kind = value;
    } else if (flag == "--requests") {
      a.requests = std::atoi(value.c_str());
    } else if (flag == "--connections") {
      a.connections = std::atoi(value.c_str());
    } else {
      Die("unknown option " + flag);
    }
  }
  if (a.url.empty() || a.bind_dn.empty() || a.base_dn.empty() || a.users.empty()) {
    Die("--url, --bind-dn, --bind-password-file, --base-dn and --users are required");
  }
  if (a.kind != "openldap" && a.kind != "ad") Die("--kind must be openldap or ad");
  if (a.requests < 1 || a.connections < 1) Die("--requests and --connections must be >= 1");
  if (a.users.size() < static_cast<std::size_t>(a.connections)) {
    Die("--users needs at least as many users as --connections (one account, one write at a "
        "time)");
  }
  return a;
}

void Check(int rc, const char* what) {
  if (rc != LDAP_SUCCESS) Die(std::string(what) + ": " + ldap_err2string(rc));
}

LDAP* Connect(const Args& a) {
  LDAP* ld = nullptr;
  Check(ldap_initialize(&ld, a.url.c_str()), "ldap_initialize");
  const int version = LDAP_VERSION3;
  Check(ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version), "protocol version");
  Check(ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF), "referrals");
  if (!a.ca_file.empty()) {
    Check(ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, a.ca_file.c_str()), "CA file");
  }
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  Check(ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand), "require cert");
  const int zero = 0;
  Check(ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero), "TLS context");
  berval password{static_cast<ber_len_t>(a.bind_password.size()),
                  const_cast<char*>(a.bind_password.data())};
  Check(ldap_sasl_bind_s(ld, a.bind_dn.c_str(), LDAP_SASL_SIMPLE, &password, nullptr, nullptr,
                         nullptr),
        "bind");
  return ld;
}

// A search whose entries are read and dropped; the DN of the first entry.
std::string Search(LDAP* ld, const std::string& base, int scope, const std::string& filter,
                   std::vector<const char*> attributes) {
  attributes.push_back(nullptr);
  LDAPMessage* result = nullptr;
  Check(ldap_search_ext_s(ld, base.c_str(), scope, filter.c_str(),
                          const_cast<char**>(attributes.data()), 0, nullptr, nullptr, nullptr, 0,
                          &result),
        "search");
  std::string dn;
  if (LDAPMessage* entry = ldap_first_entry(ld, result)) {
    char* text = ldap_get_dn(ld, entry);
    dn = text != nullptr ? text : "";
    ldap_memfree(text);
  }
  ldap_msgfree(result);
  return dn;
}

void OpenLdapReset(LDAP* ld, const Args& a, const std::string& user, const std::string& password) {
  const std::string dn =
      Search(ld, a.base_dn, LDAP_SCOPE_SUBTREE, "(uid=" + user + ")",
             {"uid", "mail", "displayName", "cn", "givenName", "sn", "pwdChangedTime",
              "pwdAccountLockedTime", "pwdReset", "pwdPolicySubentry", "memberOf"});
  if (dn.empty()) Die("no user " + user);
  LDAPControl* ppolicy = nullptr;
  Check(ldap_create_passwordpolicy_control(ld, &ppolicy), "ppolicy control");
  LDAPControl* controls[] = {ppolicy, nullptr};
  berval target{static_cast<ber_len_t>(dn.size()), const_cast<char*>(dn.data())};
  berval value{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
  int msgid = -1;
  Check(ldap_passwd(ld, &target, nullptr, &value, controls, nullptr, &msgid), "passwd");
  ldap_control_free(ppolicy);
  LDAPMessage* result = nullptr;
  if (ldap_result(ld, msgid, LDAP_MSG_ALL, nullptr, &result) <= 0) Die("passwd: no result");
  int err = LDAP_OTHER;
  Check(ldap_parse_result(ld, result, &err, nullptr, nullptr, nullptr, nullptr, 1), "parse result");
  Check(err, "Password Modify");
  (void)Search(ld, dn, LDAP_SCOPE_BASE, "(pwdReset=TRUE)", {"1.1"});
}

std::string AdQuotedUtf16(const std::string& password) {
  const std::string quoted = "\"" + password + "\"";
  std::string out;
  for (char c : quoted) {  // the bench's passwords are ASCII
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

void AdReset(LDAP* ld, const Args& a, const std::string& user, const std::string& password) {
  const std::string dn =
      Search(ld, a.base_dn, LDAP_SCOPE_SUBTREE, "(sAMAccountName=" + user + ")",
             {"sAMAccountName", "userPrincipalName", "mail", "displayName", "givenName", "sn",
              "userAccountControl", "lockoutTime", "pwdLastSet", "adminCount", "memberOf",
              "objectSid", "primaryGroupID", "replPropertyMetaData"});
  if (dn.empty()) Die("no user " + user);
  (void)Search(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
               {"msDS-ResultantPSO", "msDS-User-Account-Control-Computed"});
  std::string encoded = AdQuotedUtf16(password);
  berval value{static_cast<ber_len_t>(encoded.size()), encoded.data()};
  berval* values[] = {&value, nullptr};
  LDAPMod mod{};
  mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  mod.mod_type = const_cast<char*>("unicodePwd");
  mod.mod_vals.modv_bvals = values;
  LDAPMod* mods[] = {&mod, nullptr};
  Check(ldap_modify_ext_s(ld, dn.c_str(), mods, nullptr, nullptr), "modify unicodePwd");
}

// This process's user + system CPU in ms, all threads (getrusage: what /proc/self/stat
// counts, at microsecond rather than clock-tick resolution).
double CpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  std::vector<LDAP*> connections;
  for (int i = 0; i < a.connections; ++i) connections.push_back(Connect(a));
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(a.requests));
  const auto start = Clock::now();
  const double cpu_start = CpuMs();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < connections.size(); ++t) {
    threads.emplace_back([&, t] {
      // Each connection has users of its own, as the agent applies one request per account
      // at a time (two writes to one account at once would race in the directory).
      std::vector<std::string> own;
      for (std::size_t u = t; u < a.users.size(); u += connections.size()) {
        own.push_back(a.users[u]);
      }
      std::vector<double> mine;
      for (int i = next++; i < a.requests; i = next++) {
        const std::string& user = own[static_cast<std::size_t>(i) % own.size()];
        const std::string password = "Baseline-" + std::to_string(i) + "-Pass";
        const auto t0 = Clock::now();
        if (a.kind == "ad") {
          AdReset(connections[t], a, user, password);
        } else {
          OpenLdapReset(connections[t], a, user, password);
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      std::lock_guard lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The client's own CPU for the resets (the connections were set up before the start).
  const double cpu_ms = CpuMs() - cpu_start;
  for (LDAP* ld : connections) ldap_unbind_ext_s(ld, nullptr, nullptr);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const double rate = static_cast<double>(a.requests) / seconds;
  const double p50 = wb::NearestRank(latencies_ms, 0.50);
  const double p99 = wb::NearestRank(latencies_ms, 0.99);
  const double max = latencies_ms.empty() ? 0 : latencies_ms.back();
  if (a.json) {
    std::printf(
        "{\"kind\":\"%s\",\"requests\":%d,\"connections\":%d,\"seconds\":%.3f,"
        "\"per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
        "\"cpu_ms\":%.1f,\"cpu_ms_per_request\":%.4f}\n",
        a.kind.c_str(), a.requests, a.connections, seconds, rate, p50, p99, max, cpu_ms,
        cpu_ms / a.requests);
  } else {
    std::printf(
        "%s baseline: %d resets over %d connections in %.2f s: %.0f/s, p50 %.2f ms, "
        "p99 %.2f ms, max %.2f ms; client CPU %.4f ms per reset\n",
        a.kind.c_str(), a.requests, a.connections, seconds, rate, p50, p99, max,
        cpu_ms / a.requests);
  }
  return 0;
}
