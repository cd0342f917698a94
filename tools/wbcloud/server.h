#pragma once
// `wbcloud serve`: the reference cloud endpoint. One TLS port serves POST /enroll (no client
// certificate) and the agents' WebSocket endpoint /agent (a client certificate issued by this
// CA to an enrolled agent is required); a unix socket (admin.sock, 0600) serves the local
// commands (submit, status, token, rotate-key). Everything runs on one I/O thread.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"

namespace wb::cloud {

struct ServeOptions {
  std::filesystem::path state_dir;
  config::HostPort listen;               // port 0: any free port (see agent-url)
  std::vector<std::string> extra_names;  // subjectAltNames for a new server certificate
  config::TlsVersion min_tls = config::TlsVersion::kTls12;
  config::TlsVersion max_tls = config::TlsVersion::kTls13;
  std::chrono::seconds client_cert_lifetime{90 * 24 * 3600};
  std::chrono::seconds lease{30};
  std::chrono::seconds takeover{60};
  std::string log_level = "info";
};

// Runs until SIGINT or SIGTERM; returns the process exit code.
int Serve(const ServeOptions& options);

}  // namespace wb::cloud
