#pragma once
// Internal: one HTTPS request to the cloud (enrollment), over the same TLS checks and proxy
// as the channel. Synchronous: it runs its own io_context.

#include <string>
#include <string_view>

#include "channel/internal/tls.h"
#include "common/status.h"

namespace wb::channel::internal {

struct HttpResponse {
  unsigned status = 0;
  std::string reason;  // escaped
  std::string body;    // at most 1 MiB; raw
};

// POSTs `body` (application/json) to `target` (e.g. "/enroll"). Wipes its copy of the body.
Result<HttpResponse> HttpsPost(const ConnectTarget& connect, const TlsSettings& tls,
                               std::string_view target, std::string_view body);

}  // namespace wb::channel::internal
