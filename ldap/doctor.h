#pragma once
// `wbagent doctor`'s checks of one [[directory]], in the order they depend on each other, with
// reads only: no write, and no bind but the service account's (a test bind as a user would
// count as a failed logon and can lock the account).
//
// For each URL: DNS, TCP, TLS (CA file, host name, expiry: explained by ldap/tls_probe.h when
// refused; when accepted, the server certificate's days left, failed within
// kCertificateWarnDays) and the service account's bind. Then, on the first server that took the
// bind: the rootDSE (both policy-hints OIDs and the ppolicy control and Password Modify exop, each
// judged by what this kind of directory needs), the effective default password policy, whether
// the server's size limit lets a lookup see a second match (kLookupEntries), and the service
// account's rights:
//   - Active Directory: the DACL of each scope root (allowed_subtrees, else base_dn) is read
//     with the SD-flags control (DACL only) and evaluated (ldap/security_descriptor.h) for the
//     service account's tokenGroups: Reset Password, Write lockoutTime, Write pwdLastSet (also
//     through the property set the schema puts them in, read from the schema, not assumed),
//     and Unexpire Password. Then users in scope are sampled for inheritance disabled
//     (SE_DACL_PROTECTED) and adminCount=1: counts and a few DNs; and, from the same sample,
//     for when their password was last written (unicodePwd's stamp in replPropertyMetaData,
//     which the retry and hand-over checks read): failed when no user shows one.
//   - OpenLDAP: which rights the ACLs give cannot be read without writing (slapd has no
//     effective-rights control); the check says so and is shown as skipped, never as a pass.
// A check whose prerequisite failed is kSkipped with the reason.

#include <vector>

#include "common/check_result.h"
#include "common/clock.h"
#include "config/config.h"

namespace wb::ldap {

// At most this many users are read by the sample, and at most kSampleDnsShown DNs named.
inline constexpr int kSampleUsers = 1000;
inline constexpr int kSampleDnsShown = 5;

// A directory server's certificate that expires within this many days fails its TLS check
// (the others show their days left). The same 14 days as the alert "the certificate expires
// in under 14 days" (contrib/prometheus/wbagent-alerts.yml): time to renew it before requests
// fail. (The agent's own certificate is renewed over the channel and has no such window.)
inline constexpr int kCertificateWarnDays = 14;

// `now`: the time the certificates' days left are counted from.
std::vector<CheckResult> DiagnoseDirectory(const config::DirectoryConfig& config, WallTime now);

}  // namespace wb::ldap
