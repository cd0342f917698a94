// The metrics endpoint over a real loopback socket: what each path answers, that
// `promtool check metrics` accepts the text, and that a client cannot hold or crash it.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "metrics/metrics.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace wb::metrics {
namespace {

using std::chrono::milliseconds;
using testing::HttpExchange;
using testing::HttpGet;

class EndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    snapshot_.version = "0.1.0-test";
    snapshot_.channel =
        Snapshot::Channel{.state = "connected",
                          .all_states = {"stopped", "connecting", "connected", "disconnected"},
                          .connected = true};
    snapshot_.servers.push_back({.directory = "corp", .url = "ldaps://dc1:636", .healthy = true});
    snapshot_.breaker = Snapshot::Breaker{};
    snapshot_.queue = Snapshot::Queue{{{"received", 0}, {"ready", 1}}, std::chrono::seconds(3)};
    snapshot_.certificate_expires_in = std::chrono::hours(80 * 24);
    snapshot_.audit_append_failures = 0;
    recorder_.CountRequest("reset", "succeeded");
    recorder_.CountDecision("admission", "", "allow");
    recorder_.Observe(Recorder::Latency::kEnvelopeCheck, milliseconds(2));
  }

  void Start(Endpoint::Options options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    auto endpoint = Endpoint::Start(options, [this] {
      ++scrapes_;
      Snapshot s = snapshot_;
      s.recorded = recorder_.Read();
      return s;
    });
    ASSERT_TRUE(endpoint.ok()) << endpoint.error().ToString();
    endpoint_ = std::move(*endpoint);
  }
  int port() const { return endpoint_->port(); }

  Snapshot snapshot_;  // set before Start; read on the endpoint's thread
  Recorder recorder_;
  std::atomic<int> scrapes_{0};
  std::unique_ptr<Endpoint> endpoint_;
};

TEST_F(EndpointTest, MetricsAreServedInTheTextFormatAndPassPromtool) {
  Start();
  auto reply = HttpGet(port(), "/metrics");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200) << reply->head;
  EXPECT_NE(reply->head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos)
      << reply->head;
  EXPECT_NE(reply->body.find("wbagent_requests_total{operation=\"reset\",outcome=\"succeeded\"} 1"),
            std::string::npos)
      << reply->body;
  WB_REQUIRE_PROMTOOL();
  testing::TempDir dir("wbmetrics");
  ASSERT_TRUE(testing::WriteFile(dir.path() / "metrics.txt", reply->body).ok());
  // promtool reads the exposition from its standard input.
  testing::CommandResult check = testing::RunCommand(
      {"sh", "-c",
       std::string("promtool check metrics < ") += (dir.path() / "metrics.txt").string()});
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << reply->body;
  EXPECT_EQ(check.output.find("problem"), std::string::npos) << check.output;
}

TEST_F(EndpointTest, HealthzAnswersOkWithoutTakingASnapshot) {
  Start();
  auto reply = HttpGet(port(), "/healthz");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "ok\n");
  EXPECT_EQ(scrapes_.load(), 0);
}

TEST_F(EndpointTest, ReadyzIs200WhenReady) {
  Start();
  auto reply = HttpGet(port(), "/readyz");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "ready\n");
}

TEST_F(EndpointTest, ReadyzIs503WithTheReasonWhenTheChannelIsDown) {
  snapshot_.channel->connected = false;
  snapshot_.channel->state = "connecting";
  Start();
  auto reply = HttpGet(port(), "/readyz");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 503);
  EXPECT_NE(reply->body.find("the channel to the cloud is not connected (connecting)"),
            std::string::npos)
      << reply->body;
}

TEST_F(EndpointTest, AnUnknownPathIs404) {
  Start();
  auto reply = HttpGet(port(), "/metricz");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 404);
}

TEST_F(EndpointTest, AMethodOtherThanGetIs405) {
  Start();
  auto reply =
      HttpExchange(port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 405);
}

TEST_F(EndpointTest, AMalformedRequestIs400AndTheNextIsServed) {
  Start();
  auto reply = HttpExchange(port(), "this is not http\r\n\r\n");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 400);
  auto next = HttpGet(port(), "/healthz");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status, 200);
}

TEST_F(EndpointTest, ARequestOverTheSizeLimitIs431AndTheNextIsServed) {
  Start({.max_request_bytes = 1024});
  std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ";
  request += std::string(4096, 'a');
  request += "\r\n\r\n";
  auto reply = HttpExchange(port(), request);
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 431) << reply->head;
  auto next = HttpGet(port(), "/healthz");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status, 200);
}

// A client that connects and says nothing holds the endpoint for read_timeout at most: it is
// then dropped, and the client waiting behind it is served.
TEST_F(EndpointTest, ASilentClientIsDroppedAfterTheReadTimeout) {
  Start({.read_timeout = milliseconds(200)});
  const auto start = std::chrono::steady_clock::now();
  auto silent = HttpExchange(port(), "", std::chrono::seconds(5));
  ASSERT_TRUE(silent.ok()) << "the silent client was never dropped";
  EXPECT_EQ(silent->status, 0);  // closed without an answer
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto next = HttpGet(port(), "/healthz");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->status, 200);
}

TEST_F(EndpointTest, HeadAnswersWithoutABody) {
  Start();
  auto reply = HttpExchange(port(), "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_TRUE(reply->body.empty());
}

TEST_F(EndpointTest, APortInUseIsRefusedNamingTheAddress) {
  Start();
  auto second = Endpoint::Start({.address = "127.0.0.1", .port = endpoint_->port()},
                                [] { return Snapshot{}; });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kUnavailable);
  std::string expected = "metrics.listen 127.0.0.1:";
  expected += std::to_string(endpoint_->port());
  expected += ": cannot listen";
  EXPECT_NE(second.error().message().find(expected), std::string::npos)
      << second.error().ToString();
}

TEST_F(EndpointTest, AnAddressThatIsNotAnIpIsRefused) {
  auto endpoint = Endpoint::Start({.address = "localhost", .port = 0}, [] { return Snapshot{}; });
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.error().code(), Code::kInvalidArgument);
  EXPECT_NE(endpoint.error().message().find("not an IP address: localhost"), std::string::npos)
      << endpoint.error().ToString();
}

TEST_F(EndpointTest, StopClosesTheListenerAndIsIdempotent) {
  Start();
  const int was = port();
  endpoint_->Stop();
  endpoint_->Stop();
  EXPECT_FALSE(HttpGet(was, "/healthz").ok());
}

TEST_F(EndpointTest, ServesTheIpv6Loopback) {
  auto endpoint = Endpoint::Start({.address = "::1", .port = 0}, [] { return Snapshot{}; });
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().ToString();
  EXPECT_GT((*endpoint)->port(), 0);
}

}  // namespace
}  // namespace wb::metrics
