// The channel through a real HTTP CONNECT proxy (tinyproxy): TLS stays end to end, and each
// way the proxy can fail is reported as such.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using channel::Channel;
using channel::ChannelState;
using ::testing::HasSubstr;

class ChannelProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_SERVER(cloud_.Start());
    options_ = TestOptions(cloud_, dir_.path() / "agent", "agent-1");
    // Enrolling is the product's work, not the test server's: its failure fails the test.
    const Status enrolled = Enroll(cloud_, options_);
    ASSERT_TRUE(enrolled.ok()) << enrolled.ToString();
  }

  void UseProxy(const std::string& user = "", const std::string& password = "") {
    config::ProxyConfig proxy;
    proxy.url = "http://127.0.0.1:" + std::to_string(proxy_.port());
    proxy.address = {"127.0.0.1", static_cast<std::uint16_t>(proxy_.port())};
    if (!user.empty()) {
      proxy.user = user;
      proxy.password_file = dir_.path() / "proxy.password";
      ASSERT_TRUE(WriteFile(*proxy.password_file, password + "\n", 0600).ok());
    }
    options_.proxy = proxy;
  }

  // Connects and returns whether it worked; `error` gets the first failure otherwise.
  bool Connect(Status* error = nullptr) {
    TestHandler handler(TestHandler::Mode::kRecord, options_.state_dir);
    Channel channel(options_);
    handler.set_channel(&channel);
    EXPECT_TRUE(channel.Start(handler).ok());
    if (error == nullptr) return channel.WaitForState(ChannelState::kConnected, kWait);
    EXPECT_TRUE(handler.WaitFor([&] { return !handler.disconnects.empty(); }));
    channel.Stop();
    std::lock_guard lock(handler.mu);
    if (!handler.disconnects.empty()) *error = handler.disconnects.front();
    return false;
  }

  TempDir dir_{"wbchanproxy"};
  CloudServer cloud_{dir_.path() / "cloud"};
  Proxy proxy_;
  channel::Options options_;
};

TEST_F(ChannelProxyTest, ConnectsThroughProxy) {
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path()));
  UseProxy();
  EXPECT_TRUE(Connect());
  EXPECT_THAT(proxy_.Log(), HasSubstr("CONNECT 127.0.0.1:" + std::to_string(cloud_.port())));
}

TEST_F(ChannelProxyTest, ConnectsThroughProxyWithBasicAuth) {
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path(), "wbagent", "pr0xy-Secret"));
  UseProxy("wbagent", "pr0xy-Secret");
  EXPECT_TRUE(Connect());
}

TEST_F(ChannelProxyTest, WrongProxyPasswordIsReported) {
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path(), "wbagent", "pr0xy-Secret"));
  UseProxy("wbagent", "wrong");
  Status error;
  Connect(&error);
  EXPECT_EQ(error.code(), Code::kPermissionDenied);
  EXPECT_THAT(error.message(), HasSubstr("refused CONNECT"));
  EXPECT_THAT(error.message(), HasSubstr("did not accept the password of user \"wbagent\""));
  EXPECT_THAT(error.message(), HasSubstr("proxy_password_file"));
  EXPECT_THAT(error.message(), ::testing::Not(HasSubstr("wrong")));
}

TEST_F(ChannelProxyTest, MissingProxyCredentialsAreReported) {
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path(), "wbagent", "pr0xy-Secret"));
  UseProxy();
  Status error;
  Connect(&error);
  EXPECT_THAT(error.message(), HasSubstr("407"));
  EXPECT_THAT(error.message(), HasSubstr("it wants credentials"));
}

TEST_F(ChannelProxyTest, ProxyRefusingThePortIsReported) {
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path(), "", "", {443}));
  UseProxy();
  Status error;
  Connect(&error);
  EXPECT_EQ(error.code(), Code::kPermissionDenied);
  EXPECT_THAT(error.message(), HasSubstr("403"));
  EXPECT_THAT(error.message(), HasSubstr("proxy's ACL"));
}

TEST_F(ChannelProxyTest, UnreachableProxyIsReported) {
  config::ProxyConfig proxy;
  const int port = FreeLoopbackPort();
  proxy.url = "http://127.0.0.1:" + std::to_string(port);
  proxy.address = {"127.0.0.1", static_cast<std::uint16_t>(port)};
  options_.proxy = proxy;
  Status error;
  Connect(&error);
  EXPECT_EQ(error.code(), Code::kUnavailable);
  EXPECT_THAT(error.message(),
              HasSubstr("cannot connect to proxy 127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(error.message(), HasSubstr("connection refused"));
}

TEST_F(ChannelProxyTest, TlsInspectingProxyIsNamed) {
  // An "inspecting proxy": the proxy tunnels to a TLS server that presents a certificate from
  // its own CA instead of the cloud's.
  auto ca = TestCa::Create(dir_.path() / "mitm-ca", "corporate-mitm-ca");
  ASSERT_TRUE(ca.ok());
  auto cert = ca->IssueServer("mitm");
  ASSERT_TRUE(cert.ok());
  TlsServer mitm;
  WB_REQUIRE_SERVER(mitm.Start(*cert, dir_.path() / "mitm.log"));
  WB_REQUIRE_SERVER(proxy_.Start(dir_.path()));
  UseProxy();
  options_.server.port = static_cast<std::uint16_t>(mitm.port());
  Status error;
  Connect(&error);
  EXPECT_EQ(error.code(), Code::kPermissionDenied);
  EXPECT_THAT(error.message(), HasSubstr("is probably inspecting TLS"));
  EXPECT_THAT(error.message(), HasSubstr("CN=corporate-mitm-ca"));
}

}  // namespace
}  // namespace wb::testing
