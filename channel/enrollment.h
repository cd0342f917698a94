#pragma once
// Enrollment: `wbagent register`. The agent makes its keys locally (they never leave the
// host), sends a CSR and its encryption public key with a one-time token to
// https://<cloud host:port>/enroll (verified exactly like the channel: cloud.ca_file, host
// name, optional pin, through the proxy when configured; no client certificate), and stores
// what the cloud returns in the state directory (see identity.h for the files).
//
// Thread-safe for distinct state directories; blocks for at most about two connect timeouts.

#include <string>

#include "channel/channel.h"
#include "channel/identity.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::channel {

struct RegisterResult {
  Enrollment enrollment;
  CertificateInfo certificate;
  std::size_t cloud_keys = 0;  // keys in the pinned key set
};

// Uses options.agent_id, state_dir, server, ca_file, proxy, min_tls, spki_pin and
// connect_timeout. Refuses (kAlreadyExists) when the state directory is already enrolled,
// unless `force`. The new keys are written only after the cloud accepted the token, so a
// failed attempt leaves an existing enrollment intact.
Result<RegisterResult> Register(const Options& options, const Secret& token, bool force,
                                const Clock& clock);

}  // namespace wb::channel
