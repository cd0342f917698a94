// bench/load.sh, tiny (a few requests, one-second phases): it runs to the end against a real
// slapd, agent and wbcloud load, and its JSON holds every field the README promises. Speed is
// never asserted here.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using Json = nlohmann::json;

void ExpectNumber(const Json& j, const std::string& path) {
  const Json::json_pointer pointer(path);
  ASSERT_TRUE(j.contains(pointer)) << path << " missing in " << j.dump();
  EXPECT_TRUE(j.at(pointer).is_number()) << path << ": " << j.at(pointer).dump();
}

void ExpectPhase(const Json& phase, bool open) {
  for (const char* path :
       {"/load/per_second", "/load/seconds", "/load/answered", "/load/credits", "/load/concurrency",
        "/load/cpu_ms", "/load/cpu_ms_per_request", "/load/latency_ms/p50", "/load/latency_ms/p90",
        "/load/latency_ms/p99", "/load/latency_ms/max", "/agent_cpu_ms_per_request",
        "/agent_cpu_ms_per_request_by_thread/intake", "/agent_cpu_ms_per_request_by_thread/workers",
        "/agent_cpu_ms_per_request_by_thread/channel", "/agent_cpu_ms_per_request_by_thread/other",
        "/directory_cpu_ms_per_request"}) {
    ExpectNumber(phase, path);
  }
  // Correct, whatever the speed: every request succeeded.
  EXPECT_EQ(phase["load"]["outcomes"], (Json{{"succeeded", phase["load"]["requests"].get<int>()}}))
      << phase.dump();
  EXPECT_EQ(phase["load"]["mode"], open ? "open" : "closed");
  if (open) {
    ExpectNumber(phase, "/load/offered_per_second");
    ExpectNumber(phase, "/load/send_lag_ms/p99");
    ExpectNumber(phase, "/load/final_send_lag_ms");
    EXPECT_TRUE(phase["load"]["keeps_up"].is_boolean()) << phase.dump();
  }
}

TEST(BenchLoadScriptTest, ATinyRunWritesEveryField) {
  TempDir dir("wbloadsh");
  const std::string out = (dir.path() / "load.json").string();
  CommandResult r =
      RunCommand({std::string(WB_SOURCE_DIR) + "/bench/load.sh", "--no-build", "--requests", "20",
                  "--users", "4", "--rates", "20 40", "--retained", "50", "--open-seconds", "1",
                  "--idle-seconds", "2", "--out", out},
                 {{"WB_BUILD_DIR", WB_BUILD_DIR}});
  if (r.output.find("the directory did not start") != std::string::npos) {
    WB_REQUIRE_SERVER(Unavailable(r.output));
  }
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(out);
  const Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << out << "\n" << r.output;

  EXPECT_EQ(j["server"], "slapd");
  for (const char* path : {"/cores",
                           "/requests",
                           "/users",
                           "/baseline/per_second",
                           "/baseline/p50_ms",
                           "/baseline/p99_ms",
                           "/baseline/cpu_ms_per_request",
                           "/directory_cpu_ms_per_request_baseline",
                           "/ceiling_per_second",
                           "/ceiling_inputs_cpu_ms_per_request/cloud_client",
                           "/ceiling_inputs_cpu_ms_per_request/directory",
                           "/ceiling_inputs_cpu_ms_per_request/ldap_client",
                           "/agent_ratio_to_ceiling",
                           "/agent_ratio_to_baseline",
                           "/agent_added_latency_ms/p50",
                           "/agent_added_latency_ms/p99",
                           "/memory_kb/idle_rss",
                           "/memory_kb/idle_pss",
                           "/memory_kb/load_rss",
                           "/memory_kb/load_pss",
                           "/idle_rss_kb_by_mapping/agent_binary",
                           "/idle_rss_kb_by_mapping/shared_libraries",
                           "/idle_rss_kb_by_mapping/anonymous",
                           "/idle_rss_kb_by_mapping/other_files",
                           "/idle_wakeups_per_second"}) {
    ExpectNumber(j, path);
  }
  EXPECT_EQ(j["requests"], 20);
  EXPECT_EQ(j["retained"], 50);  // the queue was filled before the agent started
  EXPECT_GT(j["idle_rss_kb_by_mapping"]["agent_binary"].get<double>(), 0);
  EXPECT_TRUE(j["idle_rss_kb_by_mapping"]["largest_libraries"].is_object()) << j.dump();
  EXPECT_NE(r.output.find("idle RSS by mapping:"), std::string::npos) << r.output;
  EXPECT_GT(j["memory_kb"]["idle_rss"].get<double>(), 0);
  EXPECT_GT(j["memory_kb"]["load_pss"].get<double>(), 0);
  EXPECT_GT(j["ceiling_per_second"].get<double>(), 0);
  EXPECT_TRUE(j["idle_wakeups_method"].is_string());
  ExpectPhase(j["closed"], /*open=*/false);
  ASSERT_EQ(j["open"].size(), 2u) << j.dump();
  EXPECT_EQ(j["open"][0]["load"]["offered_per_second"], 20);
  EXPECT_EQ(j["open"][1]["load"]["offered_per_second"], 40);
  for (const Json& phase : j["open"]) ExpectPhase(phase, /*open=*/true);
  // The summary is printed, and the PNG is either made or its absence said.
  EXPECT_NE(r.output.find("ceiling:"), std::string::npos) << r.output;
  const bool png = r.output.find("PNG: ") != std::string::npos;
  EXPECT_TRUE(png || r.output.find("gnuplot not installed: no PNG") != std::string::npos)
      << r.output;
  if (png) {
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "load.png"));
  }
}

}  // namespace
}  // namespace wb::testing
