#pragma once
// `wbagent doctor`'s checks of the way to the cloud, in the order they depend on each other:
// DNS and TCP (of the proxy when there is one), the proxy's CONNECT (reachable, credentials
// accepted), TLS (the CA file, the host name, expiry, the pin; a TLS-inspecting proxy named as
// such), the WebSocket upgrade with the subprotocol, and the clock skew from the Date header of
// the upgrade response.
//
// It never disturbs a running agent: the cloud replaces an agent's session only when a new
// connection says hello (tools/wbcloud, agent_session.cc), and the probe closes the WebSocket
// right after the upgrade, before any frame: nothing is enqueued, no session is replaced.

#include <chrono>
#include <vector>

#include "common/check_result.h"
#include "common/clock.h"
#include "config/config.h"

namespace wb::channel {

struct CloudProbe {
  const config::CloudConfig* cloud = nullptr;
  std::filesystem::path client_cert;  // agent.crt
  std::filesystem::path client_key;   // agent.key
  std::string user_agent;
  std::chrono::seconds max_clock_skew{300};
};

std::vector<CheckResult> DiagnoseCloud(const CloudProbe& probe, const Clock& clock);

// An HTTP-date (RFC 9110 5.6.7, IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"); nullopt when
// it is not one.
std::optional<WallTime> ParseHttpDate(std::string_view text);

}  // namespace wb::channel
