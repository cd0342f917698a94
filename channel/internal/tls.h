#pragma once
// Internal: the client side of TLS to the cloud (an SSL context per attempt, the server
// verification, and the one place where TLS failures become a wb::Status).

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/certificate_text.h"
#include "common/status.h"
#include "config/config.h"

namespace wb::channel::internal {

struct TlsSettings {
  config::HostPort server;
  std::filesystem::path ca_file;
  config::TlsVersion min_tls = config::TlsVersion::kTls13;
  std::optional<std::array<std::uint8_t, 32>> spki_pin;
  std::optional<std::filesystem::path> client_cert;  // with client_key; unset: no client cert
  std::optional<std::filesystem::path> client_key;
  std::string proxy;  // "host:port" of the CONNECT proxy in the path; empty when direct
};

// Where to connect: the cloud, through the proxy when there is one.
struct ConnectTarget {
  config::HostPort server;
  std::optional<config::ProxyConfig> proxy;
  std::chrono::milliseconds timeout{10'000};
  std::string user_agent;
};

// A certificate as the verification saw it, for error messages (already escaped).
using SeenCertificate = wb::SeenCertificate;

// What the verify callback observed; read after a failed handshake.
struct VerifyRecord {
  bool failed = false;
  int error = 0;  // X509_V_ERR_*
  int depth = 0;
  SeenCertificate failed_cert;
  SeenCertificate leaf;
  bool pin_mismatch = false;
  std::string server_pin;  // base64 SHA-256 of the server's SPKI
};

// A client context: TLS 1.3 (or 1.2 when configured) as the floor, the CA file as the only
// trust anchor, the client certificate and key when given (the key file's permissions are
// checked). Errors name the file and the fix.
Result<std::unique_ptr<boost::asio::ssl::context>> MakeClientContext(const TlsSettings& s);

// The settings of one connection and what its verification saw. Owned by the connection; it
// must outlive the SSL object it is attached to.
struct VerifyState {
  TlsSettings settings;
  VerifyRecord record;
};

// Sets SNI (DNS names only), host-name or IP verification and the verify callback on `ssl`.
Status PrepareConnection(SSL* ssl, VerifyState& state);

// The verification step, public for PrepareConnection's callback.
bool VerifyPeer(bool preverified, X509_STORE_CTX* store, const TlsSettings& s,
                VerifyRecord& record);

// A failed TLS handshake or a TLS error during the WebSocket handshake, as a Status that says
// what to do. `step` is "TLS handshake" or "WebSocket handshake".
Status TlsError(const boost::system::error_code& ec, const VerifyRecord& record,
                const TlsSettings& s, std::string_view step);

// "host:port", with brackets around an IPv6 address.
std::string HostPortText(const config::HostPort& hp);
bool IsIpAddress(const std::string& host);

}  // namespace wb::channel::internal
