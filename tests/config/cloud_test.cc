// [cloud]: the URL, the CA, the proxy and its password file, TLS settings.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

std::string WithCloudUrl(std::string_view url) {
  std::string quoted = "\"";
  quoted.append(url).append("\"");
  return SetKey(kMinimal, "[cloud]", "url", quoted);
}

TEST_F(ConfigTest, CloudUrlWithoutPortOrPathGetsDefaults) {
  const Config c = LoadOk(WithCloudUrl("wss://cloud.example.com"));
  EXPECT_EQ(c.cloud.server, (HostPort{"cloud.example.com", 443}));
  EXPECT_EQ(c.cloud.path, "/");
}

TEST_F(ConfigTest, CloudUrlMayUseAnIpv6Literal) {
  const Config c = LoadOk(WithCloudUrl("wss://[2001:db8::5]:9443/a"));
  EXPECT_EQ(c.cloud.server, (HostPort{"2001:db8::5", 9443}));
}

TEST_F(ConfigTest, PlainWsCloudUrlIsRefused) {
  ExpectOneError(WithCloudUrl("ws://cloud.example.com"), "cloud.url", "ws:// is not allowed");
}

TEST_F(ConfigTest, CloudUrlWithOtherSchemeIsRefused) {
  ExpectOneError(WithCloudUrl("https://cloud.example.com"), "cloud.url", "must start with wss://");
}

TEST_F(ConfigTest, CloudUrlThatIsNotAUrlIsRefused) {
  ExpectOneError(WithCloudUrl("cloud.example.com"), "cloud.url", "is not a URL");
}

TEST_F(ConfigTest, CloudUrlWithUserInfoIsRefused) {
  ExpectOneError(WithCloudUrl("wss://me@cloud.example.com"), "cloud.url", "user info");
}

TEST_F(ConfigTest, CloudUrlWithQueryIsRefused) {
  ExpectOneError(WithCloudUrl("wss://cloud.example.com/a?token=1"), "cloud.url", "query");
}

TEST_F(ConfigTest, CloudUrlWithFragmentIsRefused) {
  ExpectOneError(WithCloudUrl("wss://cloud.example.com/a#x"), "cloud.url", "fragment");
}

TEST_F(ConfigTest, CloudUrlWithBadPortIsRefused) {
  ExpectOneError(WithCloudUrl("wss://cloud.example.com:70000"), "cloud.url",
                 "port must be a number from 1 to 65535");
}

TEST_F(ConfigTest, CloudUrlWithoutHostIsRefused) {
  ExpectOneError(WithCloudUrl("wss:///agent"), "cloud.url", "has no host");
}

TEST_F(ConfigTest, CloudUrlWithBadHostIsRefused) {
  ExpectOneError(WithCloudUrl("wss://cloud_example!.com"), "cloud.url", "host");
}

TEST_F(ConfigTest, CloudUrlWithSpaceInPathIsRefused) {
  ExpectOneError(WithCloudUrl("wss://cloud.example.com/a b"), "cloud.url", "percent-encoded");
}

TEST_F(ConfigTest, CaFileThatDoesNotExistIsReported) {
  std::string text = SetKey(kMinimal, "[cloud]", "ca_file", "\"missing.pem\"");
  const ConfigError e = ExpectOneError(text, "cloud.ca_file", "does not exist");
  EXPECT_THAT(e.problem, ::testing::HasSubstr((dir_ / "missing.pem").string()));
  EXPECT_EQ(e.line, LineOf(text, "ca_file = \"missing.pem\""));
}

TEST_F(ConfigTest, CaFileThatIsADirectoryIsRefused) {
  std::filesystem::create_directory(dir_ / "certs");
  std::string text = SetKey(kMinimal, "[cloud]", "ca_file", "\"certs\"");
  ExpectOneError(text, "cloud.ca_file", "is not a regular file");
}

TEST_F(ConfigTest, ProxyWithUserAndPasswordFileLoads) {
  WriteFile("proxy.password", "pw\n", 0600);
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://wb@proxy.example.com:3128\"");
  text = SetKey(text, "[cloud]", "proxy_password_file", "\"proxy.password\"");
  const Config c = LoadOk(text);
  ASSERT_TRUE(c.cloud.proxy.has_value());
  EXPECT_EQ(c.cloud.proxy->user, "wb");
}

TEST_F(ConfigTest, ProxyWithoutCredentialsLoads) {
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://10.0.0.1:8080/\"");
  const Config c = LoadOk(text);
  ASSERT_TRUE(c.cloud.proxy.has_value());
  EXPECT_EQ(c.cloud.proxy->address, (HostPort{"10.0.0.1", 8080}));
  EXPECT_FALSE(c.cloud.proxy->user.has_value());
}

TEST_F(ConfigTest, ProxyUrlWithPasswordIsRefused) {
  std::string text =
      SetKey(kMinimal, "[cloud]", "proxy", "\"http://wb:hunter2@proxy.example.com:3128\"");
  const ConfigError e = ExpectOneError(text, "cloud.proxy", "must not contain a password");
  EXPECT_THAT(e.problem, ::testing::HasSubstr("proxy_password_file"));
  EXPECT_THAT(e.ToString(), ::testing::Not(::testing::HasSubstr("hunter2")));
}

TEST_F(ConfigTest, ProxyUserWithEscapesIsRefused) {
  std::string text =
      SetKey(kMinimal, "[cloud]", "proxy", "\"http://w%40b@proxy.example.com:3128\"");
  ExpectOneError(text, "cloud.proxy", "user name may only contain");
}

TEST_F(ConfigTest, ProxyUrlMustBeHttp) {
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"https://proxy.example.com:3128\"");
  ExpectOneError(text, "cloud.proxy", "must start with http://");
}

TEST_F(ConfigTest, ProxyUrlNeedsAPort) {
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://proxy.example.com\"");
  ExpectOneError(text, "cloud.proxy", "needs a port");
}

TEST_F(ConfigTest, ProxyUserWithoutPasswordFileIsRefused) {
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://wb@proxy.example.com:3128\"");
  ExpectOneError(text, "cloud.proxy", "set proxy_password_file");
}

TEST_F(ConfigTest, ProxyPasswordFileWithoutProxyIsRefused) {
  WriteFile("proxy.password", "pw\n", 0600);
  std::string text = SetKey(kMinimal, "[cloud]", "proxy_password_file", "\"proxy.password\"");
  ExpectOneError(text, "cloud.proxy_password_file", "only valid together with proxy");
}

TEST_F(ConfigTest, ProxyPasswordFileWithoutProxyUserIsRefused) {
  WriteFile("proxy.password", "pw\n", 0600);
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://proxy.example.com:3128\"");
  text = SetKey(text, "[cloud]", "proxy_password_file", "\"proxy.password\"");
  ExpectOneError(text, "cloud.proxy_password_file", "needs a user name in proxy");
}

TEST_F(ConfigTest, GroupReadableProxyPasswordFileIsRefused) {
  WriteFile("proxy.password", "pw\n", 0640);
  std::string text = SetKey(kMinimal, "[cloud]", "proxy", "\"http://wb@proxy.example.com:3128\"");
  text = SetKey(text, "[cloud]", "proxy_password_file", "\"proxy.password\"");
  const ConfigError e = ExpectOneError(text, "cloud.proxy_password_file", "chmod 600");
  EXPECT_THAT(e.problem, ::testing::HasSubstr("0640"));
}

TEST_F(ConfigTest, SpkiPinIsDecoded) {
  std::string text =
      SetKey(kMinimal, "[cloud]", "spki_pin", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"");
  const Config c = LoadOk(text);
  ASSERT_TRUE(c.cloud.spki_pin.has_value());
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ((*c.cloud.spki_pin)[i], i);
}

TEST_F(ConfigTest, SpkiPinOfWrongLengthIsRefused) {
  std::string text = SetKey(kMinimal, "[cloud]", "spki_pin", "\"AAECAwQFBgcICQoLDA0ODxAREhMU\"");
  ExpectOneError(text, "cloud.spki_pin", "44 characters");
}

TEST_F(ConfigTest, SpkiPinThatIsNotBase64IsRefused) {
  std::string text =
      SetKey(kMinimal, "[cloud]", "spki_pin", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=\"");
  ExpectOneError(text, "cloud.spki_pin", "base64");
}

TEST_F(ConfigTest, SpkiPinWithNonCanonicalPaddingBitsIsRefused) {
  // The last character before '=' must leave its low two bits zero.
  std::string text =
      SetKey(kMinimal, "[cloud]", "spki_pin", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\"");
  ExpectOneError(text, "cloud.spki_pin", "base64");
}

TEST_F(ConfigTest, HeartbeatIntervalOutOfRangeIsRefused) {
  std::string text = SetKey(kMinimal, "[cloud]", "heartbeat_interval", "0");
  ExpectOneError(text, "cloud.heartbeat_interval", "between 1 and 3600 seconds");
}

}  // namespace
}  // namespace wb::config::testing
