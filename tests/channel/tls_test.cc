// The channel's TLS over real sockets: the agent accepts only the right server, and the
// server accepts only enrolled agents. Each refusal must say what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <filesystem>
#include <string>
#include <vector>

#include "channel/channel.h"
#include "channel/identity.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using channel::Channel;
using channel::ChannelState;
using ::testing::HasSubstr;

// The error of the first failed attempt of a channel with `options`.
Status FirstFailure(const channel::Options& options) {
  TestHandler handler(TestHandler::Mode::kRecord, options.state_dir);
  Channel channel(options);
  handler.set_channel(&channel);
  EXPECT_TRUE(channel.Start(handler).ok());
  EXPECT_TRUE(handler.WaitFor([&] { return !handler.disconnects.empty(); }));
  channel.Stop();
  std::lock_guard lock(handler.mu);
  return handler.disconnects.empty() ? Status::Ok() : handler.disconnects.front();
}

class ChannelTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = TestCa::Create(dir_.path() / "ca", "test-ca");
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    ca_.emplace(std::move(*ca));
    auto other = TestCa::Create(dir_.path() / "other-ca", "other-ca");
    ASSERT_TRUE(other.ok()) << other.error().ToString();
    other_ca_.emplace(std::move(*other));
    ASSERT_TRUE(FakeEnrollment(dir_.path() / "state", *ca_, "agent-1").ok());
  }

  // Options for the fake-enrolled agent against an s_server on `port`.
  channel::Options OptionsFor(int port, const std::filesystem::path& ca_file) {
    channel::Options o;
    o.agent_id = "agent-1";
    o.agent_version = "test";
    o.server = {"127.0.0.1", static_cast<std::uint16_t>(port)};
    o.path = "/agent";
    o.ca_file = ca_file;
    o.state_dir = dir_.path() / "state";
    o.connect_timeout = std::chrono::seconds(5);
    return o;
  }

  TempDir dir_{"wbchantls"};
  std::optional<TestCa> ca_;
  std::optional<TestCa> other_ca_;
  TlsServer server_;
};

TEST_F(ChannelTlsTest, RefusesServerFromAnotherCa) {
  auto cert = other_ca_->IssueServer("impostor");
  ASSERT_TRUE(cert.ok());
  WB_REQUIRE_SERVER(server_.Start(*cert, dir_.path() / "s_server.log"));
  Status s = FirstFailure(OptionsFor(server_.port(), ca_->cert()));
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("is not signed by a CA in " + ca_->cert().string()));
  EXPECT_THAT(s.message(), HasSubstr("TLS-inspecting proxy"));
  EXPECT_THAT(s.message(), HasSubstr("CN=other-ca"));
}

TEST_F(ChannelTlsTest, RefusesWrongHostName) {
  auto cert = ca_->IssueServer("elsewhere", {"DNS:elsewhere.example"});
  ASSERT_TRUE(cert.ok());
  WB_REQUIRE_SERVER(server_.Start(*cert, dir_.path() / "s_server.log"));
  Status s = FirstFailure(OptionsFor(server_.port(), ca_->cert()));
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("is not for \"127.0.0.1\""));
  EXPECT_THAT(s.message(), HasSubstr("DNS:elsewhere.example"));
}

TEST_F(ChannelTlsTest, RefusesExpiredServerCertificate) {
  auto cert = ca_->IssueServer("expired", {"IP:127.0.0.1"}, /*days=*/1, /*not_before_days=*/-10);
  ASSERT_TRUE(cert.ok());
  WB_REQUIRE_SERVER(server_.Start(*cert, dir_.path() / "s_server.log"));
  Status s = FirstFailure(OptionsFor(server_.port(), ca_->cert()));
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("expired on"));
}

TEST_F(ChannelTlsTest, RefusesTls12WhenTls13IsRequired) {
  auto cert = ca_->IssueServer("old");
  ASSERT_TRUE(cert.ok());
  WB_REQUIRE_SERVER(server_.Start(*cert, dir_.path() / "s_server.log", /*tls12_only=*/true));
  Status s = FirstFailure(OptionsFor(server_.port(), ca_->cert()));
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("does not offer TLS 1.3"));
  EXPECT_THAT(s.message(), HasSubstr("cloud.min_tls"));
}

TEST_F(ChannelTlsTest, NotEnrolledSaysToRegister) {
  auto o = OptionsFor(1, ca_->cert());
  o.state_dir = dir_.path() / "empty";
  std::filesystem::create_directories(o.state_dir);
  Status s = FirstFailure(o);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("wbagent register"));
}

// Against the real cloud.
class ChannelCloudTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {}
  // Starts the cloud and enrolls agent-1 (over TLS 1.2 when the cloud cannot do 1.3).
  Status StartCloud(const std::vector<std::string>& args = {}, bool tls12 = false) {
    WB_RETURN_IF_ERROR(cloud_.Start(args));
    options_ = TestOptions(cloud_, dir_.path() / "agent", "agent-1");
    if (tls12) options_.min_tls = config::TlsVersion::kTls12;
    Status enrolled = Enroll(cloud_, options_);
    options_.min_tls = config::TlsVersion::kTls13;
    return enrolled;
  }
  // Starts `channel` and waits until it is connected.
  static ::testing::AssertionResult Connect(Channel& channel, channel::Handler& handler) {
    if (Status s = channel.Start(handler); !s.ok())
      return ::testing::AssertionFailure() << s.ToString();
    if (!channel.WaitForState(ChannelState::kConnected, kWait)) {
      return ::testing::AssertionFailure() << channel.GetState().last_error.ToString();
    }
    return ::testing::AssertionSuccess();
  }
  TempDir dir_{"wbchancloud"};
  CloudServer cloud_{dir_.path() / "cloud"};
  channel::Options options_;
};

TEST_F(ChannelCloudTlsTest, HandshakeSucceedsWithTheRightCertificates) {
  WB_REQUIRE_SERVER(StartCloud());
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(Connect(channel, handler));
  const auto state = channel.GetState();
  EXPECT_FALSE(state.tenant.empty());
  EXPECT_TRUE(state.certificate_expires.has_value());
  EXPECT_EQ(handler.connects(), 1);
  channel.Stop();
  EXPECT_EQ(channel.GetState().state, ChannelState::kStopped);
}

// The option of every TCP socket of this process connected to 127.0.0.1:`port`: the
// channel's own socket, found as the kernel sees it, not through the channel's code.
std::vector<int> NoDelayOfSocketsConnectedTo(int port) {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = 0;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_in peer{};
    socklen_t length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;
    if (peer.sin_family != AF_INET || ntohs(peer.sin_port) != port) continue;
    int no_delay = -1;
    socklen_t size = sizeof(no_delay);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, &size) == 0) found.push_back(no_delay);
  }
  return found;
}

TEST_F(ChannelCloudTlsTest, ChannelSocketSendsWithoutNagleDelay) {
  WB_REQUIRE_SERVER(StartCloud());
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(Connect(channel, handler));
  // One connection, with TCP_NODELAY set: a `result` leaves at once instead of waiting for
  // the cloud's delayed ACK (about 40 ms a frame with Nagle).
  EXPECT_THAT(NoDelayOfSocketsConnectedTo(cloud_.port()), ::testing::ElementsAre(1));
  channel.Stop();
}

TEST_F(ChannelCloudTlsTest, Tls12WorksWhenConfigured) {
  WB_REQUIRE_SERVER(StartCloud({"--max-tls", "1.2"}, /*tls12=*/true));
  options_.min_tls = config::TlsVersion::kTls12;
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  EXPECT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait))
      << channel.GetState().last_error.ToString();
}

TEST_F(ChannelCloudTlsTest, RefusesTls12CloudByDefault) {
  WB_REQUIRE_SERVER(StartCloud({"--max-tls", "1.2"}, /*tls12=*/true));
  Status s = FirstFailure(options_);
  EXPECT_THAT(s.message(), HasSubstr("does not offer TLS 1.3"));
}

std::array<std::uint8_t, 32> SpkiPinOf(const std::filesystem::path& pem_file) {
  std::array<std::uint8_t, 32> pin{};
  auto info = channel::ReadCertificate(pem_file);
  EXPECT_TRUE(info.ok());
  unsigned int len = 0;
  EVP_Digest(info->public_key_der.data(), info->public_key_der.size(), pin.data(), &len,
             EVP_sha256(), nullptr);
  return pin;
}

TEST_F(ChannelCloudTlsTest, MatchingSpkiPinConnects) {
  WB_REQUIRE_SERVER(StartCloud());
  options_.spki_pin = SpkiPinOf(cloud_.state_dir() / "server.pem");
  TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
  Channel channel(options_);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  EXPECT_TRUE(channel.WaitForState(ChannelState::kConnected, kWait))
      << channel.GetState().last_error.ToString();
}

TEST_F(ChannelCloudTlsTest, MismatchedSpkiPinFailsTheHandshake) {
  WB_REQUIRE_SERVER(StartCloud());
  options_.spki_pin = std::array<std::uint8_t, 32>{1, 2, 3};
  Status s = FirstFailure(options_);
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("does not match cloud.spki_pin"));
}

TEST_F(ChannelCloudTlsTest, ServerRefusesAgentWithoutClientCertificate) {
  WB_REQUIRE_SERVER(StartCloud());
  const std::string upgrade =
      "GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Protocol: wbagent.v1\r\n\r\n";
  CommandResult r =
      RunCommand({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(cloud_.port()),
                  "-CAfile", cloud_.ca_file().string(), "-verify_return_error", "-quiet"},
                 {}, &upgrade);
  EXPECT_THAT(r.output, HasSubstr("HTTP/1.1 401"));
  EXPECT_THAT(r.output, HasSubstr("client certificate required"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("101 Switching Protocols")));
}

TEST_F(ChannelCloudTlsTest, ServerRefusesUnknownClientCertificate) {
  WB_REQUIRE_SERVER(StartCloud());
  // A well-formed certificate for the same agent id, from a CA the cloud does not know.
  auto stranger = TestCa::Create(dir_.path() / "stranger-ca", "stranger-ca");
  ASSERT_TRUE(stranger.ok());
  auto o = options_;
  o.state_dir = dir_.path() / "stranger";
  ASSERT_TRUE(FakeEnrollment(o.state_dir, *stranger, "agent-1").ok());
  std::filesystem::copy_file(channel::StatePaths(options_.state_dir).enrollment(),
                             channel::StatePaths(o.state_dir).enrollment(),
                             std::filesystem::copy_options::overwrite_existing);
  Status s = FirstFailure(o);
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("refused this agent's client certificate"));
  // The cloud logs the refusal after it sent the alert the agent has just read: wait for it.
  EXPECT_TRUE(WaitUntil(
                  [&] {
                    return cloud_.Log().find("TLS handshake from") != std::string::npos
                               ? Status::Ok()
                               : NotFound("not logged yet");
                  },
                  kWait)
                  .ok())
      << cloud_.Log();
}

}  // namespace
}  // namespace wb::testing
