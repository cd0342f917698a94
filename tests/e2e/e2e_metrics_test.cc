// The metrics endpoint of a real `wbagent run` (real wbcloud, real slapd), scraped over a real
// socket: the counters move with a real request, the text passes `promtool check metrics`,
// /readyz follows the channel, and `wbagent status` shows the same snapshot.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/http_client.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

class EndToEndMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    dir_ = std::make_unique<TempDir>("wbe2emetrics");
    port_ = FreeLoopbackPort();
    // [metrics] after the [[directory]] table: a table of its own in the agent's config.
    const std::string toml = SlapdDirectoryToml(*slapd_, 5) +
                             "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port_) + "\"\n";
    auto d = Deploy(dir_->path(), SlapdServer::service_password(), toml);
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
  static void TearDownTestSuite() {
    if (agent_) (void)agent_->Stop();
    agent_.reset();
    cloud_.reset();
    slapd_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
  }

  static std::string Scrape() {
    auto reply = HttpGet(port_, "/metrics");
    EXPECT_TRUE(reply.ok()) << reply.error().ToString();
    if (!reply.ok()) return "";
    EXPECT_EQ(reply->status, 200) << reply->head;
    return reply->body;
  }
  // The readiness answer, polled until it is `status` (the channel reconnects in its own time).
  static Result<HttpReply> ReadyzBecomes(int status) {
    Result<HttpReply> last = Unavailable("never asked");
    (void)WaitUntil(
        [&]() -> Status {
          last = HttpGet(port_, "/readyz");
          if (last.ok() && last->status == status) return Status::Ok();
          return Unavailable("not yet");
        },
        std::chrono::seconds(30));
    return last;
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline int port_ = 0;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndMetricsTest, ARequestMovesTheCountersAndTheTextPassesPromtool) {
  const std::string pw = "Metrics-Pass-101";
  std::string args_user = "alice";
  CommandResult r = cloud_->Submit(
      {"--user", args_user, "--op", "reset", "--kind", "uid", "--wait", "--timeout", "60"}, &pw);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string text = Scrape();
  EXPECT_TRUE(Has(text, "wbagent_requests_total{operation=\"reset\",outcome=\"succeeded\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_up 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_state{state=\"connected\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_server_up{directory=\"corp\",url=\"" +
                            slapd_->ldaps_url() + "\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "wbagent_breaker_tripped 0")) << text;
  EXPECT_TRUE(Has(text, "wbagent_audit_append_failures_total 0")) << text;
  EXPECT_TRUE(Has(text, "wbagent_queue_oldest_pending_age_seconds 0")) << text;
  EXPECT_TRUE(Has(text, "wbagent_queue_requests{state=\"succeeded\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_count 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_request_duration_seconds_count 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_envelope_check_seconds_count 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_queue_wait_seconds_count 1")) << text;
  EXPECT_NE(text.find("wbagent_policy_decisions_total{stage=\"admission\""), std::string::npos)
      << text;
  // The certificate wbcloud issued is valid for days: a positive number of seconds.
  const std::size_t at = text.find("\nwbagent_certificate_expiry_seconds ");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GT(std::stod(text.substr(at + 36)), 86400.0) << text;

  WB_REQUIRE_PROMTOOL();
  ASSERT_TRUE(WriteFile(dir_->path() / "scrape.txt", text).ok());
  CommandResult check = RunCommand(
      {"sh", "-c",
       std::string("promtool check metrics < ") += (dir_->path() / "scrape.txt").string()});
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

// One snapshot: what `wbagent status --json` shows of the directories and the channel is what
// the metrics say.
TEST_F(EndToEndMetricsTest, StatusAndMetricsShowTheSameState) {
  CommandResult status = agent_->Wbagent({"status", "--json"});
  auto j = nlohmann::json::parse(status.output.substr(status.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << status.output;
  const std::string text = Scrape();
  ASSERT_TRUE(j.contains("directory_servers")) << status.output;
  ASSERT_FALSE(j["directory_servers"].empty()) << status.output;
  for (const auto& server : j["directory_servers"]) {
    std::string line = "wbagent_directory_server_up{directory=\"";
    line += server["directory"].get<std::string>();
    line += "\",url=\"";
    line += server["url"].get<std::string>();
    line += "\"} ";
    line += server["healthy"].get<bool>() ? "1" : "0";
    EXPECT_TRUE(Has(text, line)) << line << "\n" << text;
  }
}

TEST_F(EndToEndMetricsTest, HealthzAndReadyzAnswer) {
  auto health = HttpGet(port_, "/healthz");
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->status, 200);
  auto ready = ReadyzBecomes(200);
  ASSERT_TRUE(ready.ok()) << ready.error().ToString();
  EXPECT_EQ(ready->status, 200) << ready->body;
}

// The cloud goes away: /readyz says 503 and why, and the reconnects are counted by reason;
// when it is back, /readyz is 200 again.
TEST_F(EndToEndMetricsTest, ReadyzIs503WhileTheCloudIsDownAndSaysWhy) {
  ASSERT_TRUE(cloud_->Stop().ok());
  auto down = ReadyzBecomes(503);
  ASSERT_TRUE(down.ok()) << down.error().ToString();
  EXPECT_EQ(down->status, 503) << down->body;
  EXPECT_NE(down->body.find("the channel to the cloud is not connected"), std::string::npos)
      << down->body;
  const std::string text = Scrape();
  EXPECT_TRUE(Has(text, "wbagent_channel_up 0")) << text;
  EXPECT_NE(text.find("wbagent_channel_reconnects_total{reason="), std::string::npos) << text;
  ASSERT_TRUE(cloud_->Restart().ok());
  auto up = ReadyzBecomes(200);
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_EQ(up->status, 200) << up->body;
}

// A metrics port another process holds: the agent logs it at error and runs on (writeback
// matters more than its metrics), connected and writing passwords.
TEST_F(EndToEndMetricsTest, APortInUseIsLoggedAndTheAgentRunsOn) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int held = ntohs(addr.sin_port);
  TempDir dir("wbe2emetricsheld");
  std::string toml = SlapdDirectoryToml(*slapd_, 5);
  toml += "\n[metrics]\nlisten = \"127.0.0.1:";
  toml += std::to_string(held);
  toml += "\"\n";
  auto d = Deploy(dir.path(), SlapdServer::service_password(), toml);  // waits for "connected"
  ::close(fd);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  Agent& agent = *d->agents.front();
  const std::string log = ReadFileOrEmpty(agent.log());
  EXPECT_NE(log.find("cannot listen"), std::string::npos) << log;
  EXPECT_NE(log.find("the agent runs without its metrics endpoint"), std::string::npos) << log;
  const std::string pw = "Held-Port-Pass-7";
  CommandResult r = d->cloud->Submit(
      {"--user", "bob", "--op", "reset", "--kind", "uid", "--wait", "--timeout", "60"}, &pw);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto stopped = agent.Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.error().ToString();
  EXPECT_EQ(*stopped, 0);
}

}  // namespace
}  // namespace wb::testing
