// A server that accepts TCP and then never answers must not hang wbagent: the connect, the
// TLS handshake and StartTLS are bounded by connect_timeout (libldap's own timeouts are not
// enough for the handshake, which is why ldap/ owns the socket).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "ldap/directory.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/test_ca.h"

namespace wb::ldap {
namespace {

// Listens on a loopback port and never accepts: the kernel completes TCP handshakes into
// the backlog, and nothing is ever sent back.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class ConnectionTimeoutTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ConnectionTimeoutTest, SilentServerTimesOutWithinConnectTimeout) {
  SilentListener silent;
  testing::TempDir dir;
  auto ca = testing::TestCa::Create(dir.path(), "ca");
  ASSERT_TRUE(ca.ok());
  auto c = testing::MakeDirectoryConfig(
      {config::DirectoryKind::kOpenLdap,
       {std::string(GetParam()) + "://127.0.0.1:" + std::to_string(silent.port())},
       ca->cert(),
       "cn=svc,dc=example,dc=test",
       "pw",
       "dc=example,dc=test",
       {config::LookupAttribute::kUid}},
      dir.path());
  c.connect_timeout = std::chrono::seconds(1);
  SystemClock clock;
  auto directory = OpenDirectory(c, clock);
  ASSERT_TRUE(directory.ok());
  const auto start = std::chrono::steady_clock::now();
  auto account = (*directory)->FindAccount({config::LookupAttribute::kUid, "alice"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(account.ok());
  EXPECT_EQ(account.error().code, OutcomeCode::kDirectoryTimeout) << account.error().ToString();
  EXPECT_TRUE(account.error().transient());
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(4));
}

INSTANTIATE_TEST_SUITE_P(LdapsAndStartTls, ConnectionTimeoutTest,
                         ::testing::Values("ldaps", "ldap"));

}  // namespace
}  // namespace wb::ldap
