#pragma once
// Why a TLS handshake with a directory server failed (internal to ldap/).
//
// libldap reports a refused certificate as little more than "Can't contact LDAP server" or
// "(unknown error code)". When its handshake fails, and only then (never on the hot path), the
// same handshake is made again here with OpenSSL: to the same host and port, StartTLS first
// for an ldap:// URL, with the same CA file, host-name check and client certificate; and what
// its verification saw is put in words: the certificate's subject and issuer, the CA file, the
// host name asked for and the names the certificate holds, the expiry or start date.

#include <chrono>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "ldap/connection.h"

namespace wb::ldap {

// The explanation, e.g. "the certificate of ldaps://dc1:636 (subject "CN=dc1", issuer
// "CN=Corp CA") is not signed by a CA in the ca_file /etc/wbagent/corp-ca.pem: ...". Every
// peer-supplied part is escaped. nullopt when the diagnostic handshake succeeds, or cannot
// tell more than libldap did (then libldap's own text is all there is). Takes at most
// `timeout`.
std::optional<std::string> ExplainTlsFailure(const config::LdapUrl& url,
                                             const ConnectionSettings& settings,
                                             std::chrono::milliseconds timeout);

// The certificate a server shows when the handshake is accepted (`wbagent doctor` reports its
// days left). The same handshake as ExplainTlsFailure: same CA file, host-name check, client
// certificate, StartTLS for ldap://. Its fields are escaped (peer data).
struct ServerCertificate {
  std::string subject;
  WallTime not_after;
};
// Errors: the handshake failed or was refused (kUnavailable, in ExplainTlsFailure's words
// when it has them), or took longer than `timeout` (kTimeout).
Result<ServerCertificate> ProbeServerCertificate(const config::LdapUrl& url,
                                                 const ConnectionSettings& settings,
                                                 std::chrono::milliseconds timeout);

}  // namespace wb::ldap
