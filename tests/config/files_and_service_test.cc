// [agent], [policy], [queue], [audit], [log], [metrics].

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ConfigTest, AgentIdWithBadCharactersIsRefused) {
  std::string text = SetKey(kMinimal, "[agent]", "id", "\"agent/1\"");
  ExpectOneError(text, "agent.id", "may only contain letters, digits, '.', '_' and '-'");
}

TEST_F(ConfigTest, AgentIdLongerThan64CharactersIsRefused) {
  std::string text = SetKey(kMinimal, "[agent]", "id", "\"" + std::string(65, 'a') + "\"");
  ExpectOneError(text, "agent.id", "at most 64 characters");
}

TEST_F(ConfigTest, AgentIdOf64CharactersIsAccepted) {
  LoadOk(SetKey(kMinimal, "[agent]", "id", "\"" + std::string(64, 'a') + "\""));
}

TEST_F(ConfigTest, StateDirThatExistsIsAccepted) {
  std::filesystem::create_directory(dir_ / "state");
  LoadOk(kMinimal);
}

TEST_F(ConfigTest, StateDirWhoseParentDoesNotExistIsRefused) {
  std::string text = SetKey(kMinimal, "[agent]", "state_dir", "\"no/such/state\"");
  ExpectOneError(text, "agent.state_dir", "neither does its parent");
}

TEST_F(ConfigTest, StateDirThatIsAFileIsRefused) {
  WriteFile("state", "");
  ExpectOneError(kMinimal, "agent.state_dir", "is not a directory");
}

TEST_F(ConfigTest, PolicyModeMustBeKnown) {
  std::string text = SetKey(kMinimal, "[policy]", "mode", "\"audit\"");
  ExpectOneError(text, "policy.mode", "must be one of \"enforce\", \"log_only\"");
}

TEST_F(ConfigTest, RateLimitsLoadAsCountsPerWindow) {
  const Config c = LoadOk(std::string(kMinimal) +
                          "[policy.rate_limits]\nper_account = \"5/1h\"\n"
                          "per_requester = \"20/30m\"\noverall = \"1/7d\"\n");
  EXPECT_EQ(c.policy.rate_limits.per_account.count, 5);
  EXPECT_EQ(c.policy.rate_limits.per_account.window, std::chrono::hours(1));
  EXPECT_EQ(c.policy.rate_limits.per_requester.window, std::chrono::minutes(30));
  EXPECT_EQ(c.policy.rate_limits.overall.window, std::chrono::hours(24 * 7));
}

TEST_F(ConfigTest, RateLimitWindowLongerThanSevenDaysIsRefused) {
  ExpectOneError(std::string(kMinimal) + "[policy.rate_limits]\nper_account = \"1/604801s\"\n",
                 "policy.rate_limits.per_account", "7 days or shorter");
}

// The window's seconds once came from an unchecked multiplication: these wrapped to about 17
// hours and to a negative window, and both loaded.
TEST_F(ConfigTest, RateLimitWindowThatOverflowsIsRefusedNotWrapped) {
  for (const char* limit : {"5/213503982334602d", "5/106751991167301d", "5/9223372036854775807m"}) {
    ExpectOneError(std::string(kMinimal) + "[policy.rate_limits]\noverall = \"" + limit + "\"\n",
                   "policy.rate_limits.overall", "7 days or shorter");
  }
}

TEST_F(ConfigTest, RateLimitThatIsNotACountPerWindowIsRefused) {
  for (const char* limit : {"5", "0/1h", "5/0h", "5/1w", "-1/1h", "5/h", "/1h"}) {
    ExpectOneError(std::string(kMinimal) + "[policy.rate_limits]\noverall = \"" + limit + "\"\n",
                   "policy.rate_limits.overall", "count per window");
  }
}

TEST_F(ConfigTest, MaxInFlightGreaterThanMaxPendingIsRefused) {
  std::string text = SetKey(kMinimal, "[queue]", "max_pending", "4");
  text = SetKey(text, "[queue]", "max_in_flight", "8");
  ExpectOneError(text, "queue.max_in_flight", "must not be greater than max_pending (4)");
}

TEST_F(ConfigTest, QueueRetentionOutOfRangeIsRefused) {
  std::string text = SetKey(kMinimal, "[queue]", "retention", "0");
  ExpectOneError(text, "queue.retention", "between 1 and 8760 hours");
}

TEST_F(ConfigTest, MaxPendingOutOfRangeIsRefused) {
  std::string text = SetKey(kMinimal, "[queue]", "max_pending", "-1");
  ExpectOneError(text, "queue.max_pending", "between 1 and 1000000");
}

TEST_F(ConfigTest, MissingAuditKeyFileIsAccepted) {
  std::string text = SetKey(kMinimal, "[audit]", "key_file", "\"not-yet.key\"");
  EXPECT_EQ(LoadOk(text).audit.key_file, dir_ / "not-yet.key");
}

TEST_F(ConfigTest, GroupReadableExistingAuditKeyIsRefused) {
  WriteFile("audit.key", "k", 0644);
  std::string text = SetKey(kMinimal, "[audit]", "key_file", "\"audit.key\"");
  const ConfigError e = ExpectOneError(text, "audit.key_file", "chmod 600");
  EXPECT_EQ(e.line, LineOf(text, "key_file"));
}

TEST_F(ConfigTest, GroupReadableAuditKeyInDefaultPlaceIsRefused) {
  WriteFile("state/audit.key", "k", 0640);
  const ConfigError e = ExpectOneError(kMinimal, "audit.key_file", "0640");
  EXPECT_EQ(e.line, 1);  // there is no [audit] table to point at
}

TEST_F(ConfigTest, AuditFileThatIsADirectoryIsRefused) {
  std::filesystem::create_directories(dir_ / "audit.jsonl");
  std::string text = SetKey(kMinimal, "[audit]", "file", "\"audit.jsonl\"");
  ExpectOneError(text, "audit.file", "is not a regular file");
}

TEST_F(ConfigTest, AuditRotateSizeOutOfRangeIsRefused) {
  std::string text = SetKey(kMinimal, "[audit]", "rotate_size_mb", "0");
  ExpectOneError(text, "audit.rotate_size_mb", "between 1 and 65536 MiB");
}

TEST_F(ConfigTest, LogLevelMustBeKnown) {
  std::string text = SetKey(kMinimal, "[log]", "level", "\"verbose\"");
  ExpectOneError(text, "log.level",
                 "must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"");
}

TEST_F(ConfigTest, LogFormatMustBeKnown) {
  std::string text = SetKey(kMinimal, "[log]", "format", "\"xml\"");
  ExpectOneError(text, "log.format", "must be one of \"auto\", \"text\", \"json\"");
}

TEST_F(ConfigTest, MetricsListenOnIpv6LoopbackIsAccepted) {
  std::string text = SetKey(kMinimal, "[metrics]", "listen", "\"[::1]:9469\"");
  EXPECT_EQ(LoadOk(text).metrics.listen, (HostPort{"::1", 9469}));
}

// The metrics endpoint is built (metrics/): the key takes effect, so nothing warns of it.
TEST_F(ConfigTest, MetricsListenTakesEffectWithoutAWarning) {
  std::string text = SetKey(kMinimal, "[metrics]", "listen", "\"127.0.0.1:9469\"");
  const Config config = LoadOk(text);
  EXPECT_EQ(config.metrics.listen, (HostPort{"127.0.0.1", 9469}));
  EXPECT_TRUE(config.warnings.empty());
}

TEST_F(ConfigTest, AConfigWithoutInertKeysHasNoWarnings) {
  EXPECT_TRUE(LoadOk(kMinimal).warnings.empty());
  EXPECT_TRUE(LoadOk(SetKey(kMinimal, "[log]", "level", "\"debug\"")).warnings.empty());
}

TEST_F(ConfigTest, MetricsListenOnNonLoopbackAddressIsRefused) {
  std::string text = SetKey(kMinimal, "[metrics]", "listen", "\"0.0.0.0:9469\"");
  ExpectOneError(text, "metrics.listen", "must be a loopback address");
}

TEST_F(ConfigTest, MetricsListenOnHostNameIsRefused) {
  std::string text = SetKey(kMinimal, "[metrics]", "listen", "\"localhost:9469\"");
  ExpectOneError(text, "metrics.listen", "not a host name");
}

TEST_F(ConfigTest, MetricsListenWithoutPortIsRefused) {
  std::string text = SetKey(kMinimal, "[metrics]", "listen", "\"127.0.0.1\"");
  ExpectOneError(text, "metrics.listen", "needs a port");
}

}  // namespace
}  // namespace wb::config::testing
