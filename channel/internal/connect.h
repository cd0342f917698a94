#pragma once
// Internal: one TLS connection to the cloud, directly or through an HTTP CONNECT proxy.
// Includes Beast: only the few translation units that do I/O include this header.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "channel/internal/tls.h"
#include "common/status.h"
#include "config/config.h"

namespace wb::channel::internal {

using TlsStream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

// Resolves, connects TCP (to the proxy when there is one, then CONNECT to the server) and
// completes the TLS handshake, all within `target.timeout` from the call: the deadline stays
// set on the stream for the steps that follow (the caller clears it with expires_never).
// `verify` must outlive `stream`. Every failure is returned as a Status that names the hop
// (cloud or proxy) and the fix.
boost::asio::awaitable<Status> ConnectTls(TlsStream& stream, const ConnectTarget& target,
                                          VerifyState& verify);

// The HTTP CONNECT exchange on an open TCP stream (exposed for tests of the status mapping).
boost::asio::awaitable<Status> ProxyConnect(boost::beast::tcp_stream& stream,
                                            const config::ProxyConfig& proxy,
                                            const config::HostPort& server,
                                            const std::string& user_agent);

// A transport error (TCP, timeout, resolution) on the way to `hop`, as a Status.
Status TransportError(const boost::system::error_code& ec, std::string_view what,
                      std::string_view hop, std::chrono::milliseconds timeout);

}  // namespace wb::channel::internal
