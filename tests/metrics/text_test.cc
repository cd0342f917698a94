// The Prometheus text (format 0.0.4), the histograms, the Recorder and the readiness answer,
// from hand-made Snapshots.
#include <gtest/gtest.h>

#include <thread>

#include "metrics/metrics.h"

namespace wb::metrics {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

Snapshot Healthy() {
  Snapshot s;
  s.version = "1.2.3";
  s.channel =
      Snapshot::Channel{.state = "connected",
                        .all_states = {"stopped", "connecting", "connected", "disconnected"},
                        .connected = true};
  s.servers.push_back({.directory = "corp", .url = "ldaps://a:636", .healthy = true});
  s.servers.push_back(
      {.directory = "corp", .url = "ldaps://b:636", .healthy = false, .failovers = 3});
  s.breaker = Snapshot::Breaker{};
  s.queue = Snapshot::Queue{{{"received", 1}, {"ready", 2}, {"applying", 0}}, seconds(42)};
  s.certificate_expires_in = std::chrono::hours(12 * 24 + 12);  // 12.5 days
  s.audit_append_failures = 0;
  return s;
}

TEST(HistogramTest, CountsEachObservationInEveryBucketAtOrAboveIt) {
  HistogramCounts h;
  h.Observe(milliseconds(3));  // <= 0.005
  h.Observe(seconds(2));       // <= 2.5
  h.Observe(seconds(3600));    // only +Inf
  EXPECT_EQ(h.count, 3u);
  EXPECT_DOUBLE_EQ(h.sum, 0.003 + 2 + 3600);
  EXPECT_EQ(h.cumulative[0], 0u);   // 0.001
  EXPECT_EQ(h.cumulative[1], 0u);   // 0.0025
  EXPECT_EQ(h.cumulative[2], 1u);   // 0.005
  EXPECT_EQ(h.cumulative[9], 1u);   // 1
  EXPECT_EQ(h.cumulative[10], 2u);  // 2.5
  EXPECT_EQ(h.cumulative[13], 2u);  // 600
}

TEST(HistogramTest, AnObservationOnABoundIsInThatBucket) {
  HistogramCounts h;
  h.Observe(milliseconds(100));
  EXPECT_EQ(h.cumulative[5], 0u);  // 0.05
  EXPECT_EQ(h.cumulative[6], 1u);  // 0.1: le means "less than or equal"
}

TEST(HistogramTest, ANegativeDurationCountsAsZero) {
  HistogramCounts h;
  h.Observe(seconds(-5));  // a wall clock stepped back
  EXPECT_EQ(h.cumulative[0], 1u);
  EXPECT_DOUBLE_EQ(h.sum, 0);
}

TEST(RecorderTest, CountsFromManyThreadsAddUp) {
  Recorder r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r] {
      for (int i = 0; i < 1000; ++i) {
        r.CountRequest("reset", "succeeded");
        r.Observe(Recorder::Latency::kStay, milliseconds(1));
      }
    });
  }
  for (auto& t : threads) t.join();
  const Recorded got = r.Read();
  EXPECT_EQ(got.requests.at({"reset", "succeeded"}), 4000u);
  EXPECT_EQ(got.stay.count, 4000u);
  EXPECT_EQ(got.envelope_check.count, 0u);
}

TEST(RenderTextTest, EveryFamilyHasHelpAndTypeBeforeItsSamples) {
  Snapshot s = Healthy();
  const std::string text = RenderText(s);
  for (const char* family :
       {"wbagent_build_info", "wbagent_channel_up", "wbagent_channel_state",
        "wbagent_directory_server_up", "wbagent_directory_failovers_total",
        "wbagent_queue_requests", "wbagent_queue_oldest_pending_age_seconds",
        "wbagent_breaker_tripped", "wbagent_certificate_expiry_seconds",
        "wbagent_audit_append_failures_total", "wbagent_requests_total",
        "wbagent_policy_decisions_total", "wbagent_channel_reconnects_total",
        "wbagent_envelope_check_seconds", "wbagent_queue_wait_seconds",
        "wbagent_directory_write_seconds", "wbagent_request_duration_seconds"}) {
    const std::string name(family);
    const std::size_t help = text.find(std::string("# HELP ") += name + ' ');
    const std::size_t type = text.find(std::string("# TYPE ") += name + ' ');
    ASSERT_NE(help, std::string::npos) << name;
    ASSERT_NE(type, std::string::npos) << name;
    EXPECT_LT(help, type) << name;
  }
}

TEST(RenderTextTest, RendersTheSnapshotsValues) {
  Snapshot s = Healthy();
  s.breaker->tripped = true;
  s.audit_append_failures = 2;
  const std::string text = RenderText(s);
  EXPECT_TRUE(Has(text, "wbagent_build_info{version=\"1.2.3\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_up 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_state{state=\"connected\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_state{state=\"disconnected\"} 0")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_server_up{directory=\"corp\",url=\"ldaps://b:636\"} 0"))
      << text;
  EXPECT_TRUE(
      Has(text, "wbagent_directory_failovers_total{directory=\"corp\",url=\"ldaps://b:636\"} 3"))
      << text;
  EXPECT_TRUE(Has(text, "wbagent_queue_requests{state=\"ready\"} 2")) << text;
  EXPECT_TRUE(Has(text, "wbagent_queue_oldest_pending_age_seconds 42")) << text;
  EXPECT_TRUE(Has(text, "wbagent_breaker_tripped 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_certificate_expiry_seconds 1080000")) << text;
  EXPECT_TRUE(Has(text, "wbagent_audit_append_failures_total 2")) << text;
}

TEST(RenderTextTest, RendersCountersAndHistogramsFromTheRecorder) {
  Recorder r;
  r.CountRequest("reset+unlock", "succeeded");
  r.CountRequest("reset+unlock", "succeeded");
  r.CountDecision("admission", "", "allow");
  r.CountDecision("account", "no-admins", "deny");
  r.CountReconnect("unavailable");
  r.Observe(Recorder::Latency::kDirectoryWrite, milliseconds(20));
  Snapshot s = Healthy();
  s.recorded = r.Read();
  const std::string text = RenderText(s);
  EXPECT_TRUE(
      Has(text, "wbagent_requests_total{operation=\"reset+unlock\",outcome=\"succeeded\"} 2"))
      << text;
  EXPECT_TRUE(Has(text,
                  "wbagent_policy_decisions_total{stage=\"account\",rule=\"no-admins\","
                  "decision=\"deny\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "wbagent_channel_reconnects_total{reason=\"unavailable\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_bucket{le=\"0.01\"} 0")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_bucket{le=\"0.025\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_bucket{le=\"+Inf\"} 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_count 1")) << text;
  EXPECT_TRUE(Has(text, "wbagent_directory_write_seconds_sum 0.02")) << text;
}

// A directory or rule name is the administrator's text: quotes, backslashes and line feeds in
// it cannot break the format.
TEST(RenderTextTest, EscapesLabelValues) {
  Snapshot s = Healthy();
  s.servers = {{.directory = "a\"b\\c\nd", .url = "ldap://x", .healthy = true}};
  const std::string text = RenderText(s);
  EXPECT_TRUE(
      Has(text, "wbagent_directory_server_up{directory=\"a\\\"b\\\\c\\nd\",url=\"ldap://x\"} 1"))
      << text;
}

TEST(RenderTextTest, LeavesOutWhatTheSnapshotDoesNotKnow) {
  Snapshot s;
  s.version = "1";
  const std::string text = RenderText(s);
  EXPECT_EQ(text.find("wbagent_channel_up"), std::string::npos);
  EXPECT_EQ(text.find("wbagent_certificate_expiry_seconds"), std::string::npos);
  EXPECT_EQ(text.find("wbagent_queue_requests"), std::string::npos);
}

TEST(ReadinessTest, ReadyWhenConnectedAndEveryDirectoryHasAServer) {
  const Readiness r = ReadinessOf(Healthy());  // corp: a is up, b is down
  EXPECT_TRUE(r.ready) << r.why;
}

TEST(ReadinessTest, NotReadyWhileTheChannelIsDownSaysWhy) {
  Snapshot s = Healthy();
  s.channel->connected = false;
  s.channel->state = "disconnected";
  s.channel->last_error = "unavailable: connection refused";
  const Readiness r = ReadinessOf(s);
  EXPECT_FALSE(r.ready);
  EXPECT_NE(r.why.find("the channel to the cloud is not connected (disconnected: unavailable: "
                       "connection refused)"),
            std::string::npos)
      << r.why;
}

TEST(ReadinessTest, NotReadyWhenADirectoryHasNoReachableServerNamesIt) {
  Snapshot s = Healthy();
  s.servers.push_back({.directory = "lab", .url = "ldap://c", .healthy = false});
  const Readiness r = ReadinessOf(s);
  EXPECT_FALSE(r.ready);
  EXPECT_NE(r.why.find("directory 'lab' has no reachable server"), std::string::npos) << r.why;
  EXPECT_EQ(r.why.find("'corp'"), std::string::npos) << r.why;
}

}  // namespace
}  // namespace wb::metrics
