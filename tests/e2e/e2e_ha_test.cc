// Two wbagents on one wbcloud against a real slapd: one is killed while it applies a request,
// the other completes it, the password is set exactly once and the history is not tripped.
//
// The kill lands at a known point of the write, without hooks in wbagent:
// - after the write landed: slapd's LMDB writer lock is held (WriteHold), so the agent's
//   Password Modify waits inside slapd (seen in cn=Monitor); the agent is frozen (SIGSTOP),
//   the hold released so the write lands with its answer unread, then the agent is killed;
// - before the write: slapd is frozen while the agent looks the account up, the agent is
//   killed, slapd resumes.
// wbcloud hands the request to the other agent after --takeover; that agent must check the
// directory, not write again. The killed agent, restarted, must not write either.
// operation_timeout is long so that a slow machine cannot turn the frozen write into a
// timeout and a retry before the test acts.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

using std::chrono::seconds;

class TwoAgentsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    dir_ = std::make_unique<TempDir>("wbe2eha");
    setup_status_ = SetUpCloudAndAgents();
  }
  static Status SetUpCloudAndAgents() {
    // Users first: their initial passwords must be older than the hand-over check's window.
    for (const char* uid : {"landed", "unsent"}) {
      WB_RETURN_IF_ERROR(slapd_->CreateUser(uid, std::string(uid) + "-Start-Pass-1"));
    }
    users_created_ = std::chrono::steady_clock::now();
    auto d = Deploy(dir_->path(), SlapdServer::service_password(), SlapdDirectoryToml(*slapd_, 60),
                    {"agent-a", "agent-b"}, {"--takeover", "2"});
    if (!d.ok()) return d.error();
    cloud_ = std::move(d->cloud);
    agents_ = std::move(d->agents);
    return Status::Ok();
  }
  static void TearDownTestSuite() {
    for (auto& a : agents_) (void)a->Stop();
    agents_.clear();
    cloud_.reset();
    slapd_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
    // The initial passwords must predate the hand-over check's clock tolerance (5 s), so
    // that only a write made during the test can count as "found applied".
    std::this_thread::sleep_until(users_created_ + seconds(7));
  }

  // `wbcloud submit --wait` in the background: the final result as JSON.
  static std::future<nlohmann::json> SubmitReset(const std::string& uid, const std::string& pw) {
    return std::async(std::launch::async, [uid, pw] {
      CommandResult r = cloud_->Submit(
          {"--user", uid, "--kind", "uid", "--op", "reset", "--wait", "--timeout", "90"}, &pw);
      const auto brace = r.output.find('{');
      return brace == std::string::npos
                 ? nlohmann::json{{"output", r.output}}
                 : nlohmann::json::parse(r.output.substr(brace), nullptr, false);
    });
  }

  // The id of the one open request and the agent holding it, once it is accepted.
  static Result<std::pair<std::string, Agent*>> AcceptedRequest() {
    std::pair<std::string, Agent*> found{"", nullptr};
    Status s = WaitUntil(
        [&] {
          auto status = cloud_->StatusJson();
          if (!status.is_object()) return NotFound("no status");
          for (const auto& request : status["open"]) {
            if (request.value("state", "") != "accepted") continue;
            for (auto& a : agents_) {
              if (a->id() == request.value("agent", "")) found = {request["id"], a.get()};
            }
          }
          return found.second ? Status::Ok() : NotFound("not accepted yet");
        },
        seconds(20));
    if (!s.ok()) return s;
    return found;
  }

  static Status InFlight(const std::string& kind, int want) {
    return WaitUntil(
        [&] {
          auto n = slapd_->OperationsInFlight(kind);
          if (!n.ok()) return n.error();
          return *n == want ? Status::Ok() : NotFound(kind + " operations in flight: not yet");
        },
        seconds(20));
  }

  static Status StateIs(const Agent& agent, const std::string& id, const std::string& state) {
    return WaitUntil(
        [&] {
          auto record = agent.QueueRecord(id);
          return record.is_object() && record.value("state", "") == state
                     ? Status::Ok()
                     : NotFound(agent.id() + ": " + id + " not " + state + " yet");
        },
        seconds(30));
  }

  static std::vector<std::string> Attribute(const std::string& uid, const std::string& attr) {
    auto values = slapd_->ReadAttribute(SlapdServer::user_dn(uid), attr);
    if (values.ok()) return *values;
    std::string shown = "<";
    shown.append(values.error().ToString()).append(">");
    return {shown};
  }

  static bool CanBind(const std::string& uid, const std::string& password) {
    return TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn(uid), password)
        .ok();
  }

  Agent* Other(const Agent* agent) {
    return agents_[0].get() == agent ? agents_[1].get() : agents_[0].get();
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::vector<std::unique_ptr<Agent>> agents_;
  static inline std::chrono::steady_clock::time_point users_created_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(TwoAgentsTest, AgentKilledAfterItsWriteLandedIsCompletedByTheOtherWithoutASecondWrite) {
  const std::string uid = "landed";
  const std::string pw = "Landed-New-Pass-2";
  auto hold = slapd_->HoldWrites();
  ASSERT_TRUE(hold.ok()) << hold.error().ToString();
  auto result = SubmitReset(uid, pw);
  auto accepted = AcceptedRequest();
  ASSERT_TRUE(accepted.ok()) << accepted.error().ToString();
  const auto [id, first] = *accepted;
  // The Password Modify is inside slapd, waiting for the writer lock.
  ASSERT_TRUE(InFlight("Extended", 1).ok());
  first->Signal(SIGSTOP);
  (*hold)->Release();
  ASSERT_TRUE(InFlight("Extended", 0).ok());  // applied; the answer sits unread
  ASSERT_TRUE(CanBind(uid, pw));
  const auto changed_at = Attribute(uid, "pwdChangedTime");
  const auto history = Attribute(uid, "pwdHistory");
  ASSERT_EQ(history.size(), 1u);  // the initial password
  EXPECT_EQ(first->QueueRecord(id).value("state", ""), "applying");
  first->Kill();

  nlohmann::json r = result.get();
  Agent* second = Other(first);
  EXPECT_EQ(r.value("outcome", ""), "succeeded") << r.dump();
  EXPECT_EQ(r.value("agent", ""), second->id()) << r.dump();
  EXPECT_EQ(r.value("deliveries", 0), 2) << r.dump();
  EXPECT_NE(r.value("note", "").find("found applied"), std::string::npos) << r.dump();
  EXPECT_EQ(second->QueueRecord(id).value("delivery", 0), 2);
  // Set once: no second write, so no new history entry and the same change time.
  EXPECT_EQ(Attribute(uid, "pwdChangedTime"), changed_at);
  EXPECT_EQ(Attribute(uid, "pwdHistory"), history);
  EXPECT_TRUE(CanBind(uid, pw));

  // The killed agent comes back with the request still `applying`: it sees the change in
  // the directory and does not write either.
  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(StateIs(*first, id, "succeeded").ok()) << ReadFileOrEmpty(first->log());
  EXPECT_EQ(Attribute(uid, "pwdChangedTime"), changed_at);
  EXPECT_EQ(Attribute(uid, "pwdHistory"), history);
}

TEST_F(TwoAgentsTest, AgentKilledBeforeItsWriteIsCompletedByTheOtherWithOneWrite) {
  const std::string uid = "unsent";
  const std::string pw = "Unsent-New-Pass-3";
  const auto history = Attribute(uid, "pwdHistory");
  const pid_t slapd = slapd_->pid();
  ASSERT_EQ(kill(slapd, SIGSTOP), 0);
  auto result = SubmitReset(uid, pw);
  auto accepted = AcceptedRequest();
  if (!accepted.ok()) kill(slapd, SIGCONT);
  ASSERT_TRUE(accepted.ok()) << accepted.error().ToString();
  const auto [id, first] = *accepted;
  // Taken and looking the account up in the frozen directory: nothing sent yet but a search.
  Status applying = StateIs(*first, id, "applying");
  first->Kill();
  kill(slapd, SIGCONT);
  ASSERT_TRUE(applying.ok()) << applying.ToString();

  nlohmann::json r = result.get();
  Agent* second = Other(first);
  EXPECT_EQ(r.value("outcome", ""), "succeeded") << r.dump();
  EXPECT_EQ(r.value("agent", ""), second->id()) << r.dump();
  EXPECT_EQ(r.value("note", ""), "") << r.dump();  // written, not "found applied"
  EXPECT_TRUE(CanBind(uid, pw));
  const auto changed_at = Attribute(uid, "pwdChangedTime");
  EXPECT_EQ(Attribute(uid, "pwdHistory").size(), history.size() + 1);  // exactly one write

  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(StateIs(*first, id, "succeeded").ok()) << ReadFileOrEmpty(first->log());
  EXPECT_EQ(Attribute(uid, "pwdChangedTime"), changed_at);
  EXPECT_EQ(Attribute(uid, "pwdHistory").size(), history.size() + 1);
}

}  // namespace
}  // namespace wb::testing
