#pragma once
// A deliberately plain HTTP client over a real loopback TCP socket, for the metrics endpoint's
// tests: it sends exactly the bytes given, so a test can send a malformed or oversized request.

#include <chrono>
#include <string>

#include "common/status.h"

namespace wb::testing {

struct HttpReply {
  int status = 0;    // 0: the server closed without an answer
  std::string head;  // the status line and headers
  std::string body;
};

// Connects to 127.0.0.1:`port`, writes `request`, reads until the server closes (at most
// `timeout`) and parses the reply. An error when the connection fails or the read times out.
Result<HttpReply> HttpExchange(int port, const std::string& request,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
// GET `path` with Connection: close.
Result<HttpReply> HttpGet(int port, const std::string& path);

// Runs `promtool ARGS...`: the exit code and output. When promtool is not installed: a skip
// outside CI, a failure in CI (CI=true), as for every tool the suite needs.
#define WB_REQUIRE_PROMTOOL()                                                          \
  do {                                                                                 \
    if (!::wb::testing::HavePromtool()) {                                              \
      if (::wb::testing::InCi()) FAIL() << "promtool is missing (Debian: prometheus)"; \
      GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";         \
    }                                                                                  \
  } while (0)
bool HavePromtool();

}  // namespace wb::testing
