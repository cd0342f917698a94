// Drives `wbagent queue list` and `wbagent queue show` against a queue the test fills through
// the queue API and holds open, as the running daemon does.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/request_mapping.h"
#include "ldap/outcome.h"
#include "tests/agent/inspect_test_util.h"

namespace wb::testing {
namespace {

using nlohmann::json;

class QueueCliTest : public InspectTest {
 protected:
  // Four requests: one received; one ready after a failed attempt; one rejected by policy;
  // one password change, still received.
  void SetUp() override {
    InspectTest::SetUp();
    OpenQueue();
    Enqueue("req-1", "alice");
    Enqueue("req-2", "bob");
    ASSERT_TRUE(queue_->MarkReady("req-2").ok());
    auto work = queue_->Take();
    ASSERT_TRUE(work.ok() && work->has_value());
    queue::Outcome busy{.code = "server_busy",
                        .transient = true,
                        .message = "the server is busy, try later",
                        .server = "ldaps://dc1.corp.example.com"};
    auto retried = queue_->Retry("req-2", busy);
    ASSERT_TRUE(retried.ok()) << retried.error().ToString();
    Enqueue("req-3", "carol");
    queue::Outcome denied{.state = queue::State::kRejected,
                          .code = "policy_denied",
                          .message = "carol is a protected account"};
    ASSERT_TRUE(queue_->Finish("req-3", denied).ok());
    Enqueue("req-4", "dave", /*change=*/true);
  }

  CommandResult Queue(std::vector<std::string> args) {
    args.insert(args.begin(), "queue");
    args.push_back("-c");
    args.push_back(config().string());
    return Wbagent(args);
  }

  std::vector<std::string> Passwords() const {
    return {PasswordFor("req-1"), PasswordFor("req-2"), PasswordFor("req-3"), PasswordFor("req-4"),
            PasswordFor("req-4-old")};
  }
};

TEST_F(QueueCliTest, VerbsHaveHelp) {
  for (const char* verb : {"list", "show"}) {
    CommandResult r = Wbagent({"queue", verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_TRUE(Contains(r.output, "--config")) << verb;
    EXPECT_TRUE(Contains(r.output, "--json")) << verb;
    EXPECT_TRUE(Contains(r.output, "--state-dir")) << verb;
  }
  EXPECT_EQ(Wbagent({"queue", "--help"}).exit_code, 0);
  EXPECT_EQ(Wbagent({"queue"}).exit_code, 2);
  EXPECT_EQ(Wbagent({"queue", "show"}).exit_code, 2);  // the id is required
}

TEST_F(QueueCliTest, ListShowsTheNewestFirst) {
  CommandResult r = Queue({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::size_t r1 = r.output.find("req-1");
  const std::size_t r4 = r.output.find("req-4");
  ASSERT_NE(r1, std::string::npos) << r.output;
  ASSERT_NE(r4, std::string::npos) << r.output;
  EXPECT_LT(r4, r1);
}

TEST_F(QueueCliTest, ListWithOldestShowsEveryRequestInAcceptOrder) {
  CommandResult r = Queue({"list", "--oldest"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "ID")) << r.output;
  EXPECT_TRUE(Contains(r.output, "ATTEMPTS")) << r.output;
  const std::size_t r1 = r.output.find("req-1");
  const std::size_t r4 = r.output.find("req-4");
  ASSERT_NE(r1, std::string::npos) << r.output;
  ASSERT_NE(r4, std::string::npos) << r.output;
  EXPECT_LT(r1, r4);
  EXPECT_TRUE(Contains(r.output, "alice@corp.example.com")) << r.output;
  EXPECT_TRUE(Contains(r.output, "reset, unlock")) << r.output;
  EXPECT_TRUE(Contains(r.output, "policy_denied")) << r.output;
  EXPECT_TRUE(Contains(r.output, "server_busy")) << r.output;
  EXPECT_FALSE(Contains(r.output, "first ")) << r.output;
}

TEST_F(QueueCliTest, ListFiltersByState) {
  CommandResult r = Queue({"list", "--state", "ready"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "req-2")) << r.output;
  for (const char* other : {"req-1", "req-3", "req-4"}) {
    EXPECT_FALSE(Contains(r.output, other)) << r.output;
  }
  CommandResult none = Queue({"list", "--state", "expired"});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_TRUE(Contains(none.output, "no requests")) << none.output;
}

TEST_F(QueueCliTest, ListRefusesAnUnknownStateOrAZeroLimit) {
  CommandResult r = Queue({"list", "--state", "pending"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "not a state")) << r.output;
  EXPECT_EQ(Queue({"list", "--limit", "0"}).exit_code, 2);
}

TEST_F(QueueCliTest, ListLimitSaysThereAreMore) {
  CommandResult r = Queue({"list", "--limit", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "req-3")) << r.output;
  EXPECT_FALSE(Contains(r.output, "req-2")) << r.output;
  EXPECT_TRUE(Contains(r.output, "first 2 shown, newest first")) << r.output;
  json j = json::parse(Queue({"list", "--limit", "2", "--json"}).output);
  EXPECT_EQ(j["requests"].size(), 2u);
  EXPECT_EQ(j["more"], true);
}

TEST_F(QueueCliTest, ListJsonIsOneObject) {
  CommandResult r = Queue({"list", "--oldest", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  ASSERT_EQ(j["requests"].size(), 4u);
  EXPECT_EQ(j["more"], false);
  EXPECT_EQ(j["state_dir"], state().string());
  const json& rejected = j["requests"][2];
  EXPECT_EQ(rejected["id"], "req-3");
  EXPECT_EQ(rejected["state"], "rejected");
  EXPECT_EQ(rejected["outcome"]["code"], "policy_denied");
  EXPECT_EQ(rejected["secret_stored"], false);
  EXPECT_EQ(j["requests"][3]["operations"]["change"], true);
  EXPECT_EQ(j["requests"][0]["requester"]["type"], "self");
  EXPECT_EQ(j["requests"][0]["requester"]["verified_by"][1], "authenticator_app");
}

TEST_F(QueueCliTest, ShowGivesTheHistoryWithTimesAttemptsCodesAndMessages) {
  CommandResult r = Queue({"show", "req-2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "request req-2")) << r.output;
  EXPECT_TRUE(Contains(r.output, "bob@corp.example.com (upn)")) << r.output;
  EXPECT_TRUE(Contains(r.output, "server_busy: the server is busy, try later")) << r.output;
  EXPECT_TRUE(Contains(r.output, "next attempt")) << r.output;
  EXPECT_TRUE(Contains(r.output, "history:")) << r.output;
  for (const char* event : {"received", "ready", "applying", "retry_scheduled"}) {
    EXPECT_TRUE(Contains(r.output, event)) << event << "\n" << r.output;
  }
  EXPECT_TRUE(Contains(r.output, "stored encrypted")) << r.output;
}

TEST_F(QueueCliTest, ShowJsonHasEveryHistoryEvent) {
  CommandResult r = Queue({"show", "req-2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["id"], "req-2");
  EXPECT_EQ(j["state"], "ready");
  EXPECT_EQ(j["attempts"], 1);
  EXPECT_EQ(j["last_error"]["code"], "server_busy");
  ASSERT_EQ(j["history"].size(), 4u);
  const json& retry = j["history"][3];
  EXPECT_EQ(retry["event"], "retry_scheduled");
  EXPECT_EQ(retry["state"], "ready");
  EXPECT_EQ(retry["attempts"], 1);
  EXPECT_EQ(retry["code"], "server_busy");
  EXPECT_EQ(retry["message"], "the server is busy, try later");
  EXPECT_TRUE(retry["at"].is_string());
}

TEST_F(QueueCliTest, ShowOfATerminalRequestGivesItsOutcome) {
  CommandResult r = Queue({"show", "req-3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "policy_denied")) << r.output;
  EXPECT_TRUE(Contains(r.output, "carol is a protected account")) << r.output;
  EXPECT_TRUE(Contains(r.output, "erased")) << r.output;
}

TEST_F(QueueCliTest, ShowPrintsTheRequesterAsFieldsNotJson) {
  CommandResult r = Queue({"show", "req-1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "  requester type       self\n")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  requester id         alice@corp.example.com\n")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  verified by          sms, authenticator_app\n")) << r.output;
  EXPECT_FALSE(Contains(r.output, "{")) << r.output;
}

TEST_F(QueueCliTest, ShowPrintsARequesterItCannotReadAsEscapedText) {
  Enqueue("req-odd", "odd", false, "not json\x1b[31m");
  CommandResult shown = Queue({"show", "req-odd"});
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "  requester            not json\\x1b[31m\n")) << shown.output;
}

// The outcome line has the code once: the message the pipeline stores is the reason alone
// (pipeline_test, TheStoredMessageOfARefusalIsItsReasonWithoutTheCodeBesideIt).
TEST_F(QueueCliTest, ShowPrintsTheOutcomeCodeOnce) {
  CommandResult r = Queue({"show", "req-3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string fields = r.output.substr(0, r.output.find("history:"));
  EXPECT_TRUE(Contains(fields,
                       "  outcome              policy_denied: carol is a protected "
                       "account\n"))
      << r.output;
  EXPECT_EQ(fields.find("policy_denied"), fields.rfind("policy_denied")) << r.output;
}

// An AD diagnostic ends with a newline; ldap/ escapes it once where it enters (\x0a), and
// `queue show` must not escape that again (\x5cx0a).
TEST_F(QueueCliTest, ShowPrintsADirectoryDiagnosticEscapedOnce) {
  const ldap::Outcome refused = ldap::OutcomeFromLdap(
      50 /* LDAP_INSUFFICIENT_ACCESS */,
      "00000005: SecErr: DSID-03152857, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n\\",
      ldap::OperationKind::kWrite);
  Enqueue("req-ad", "erin");
  queue::Outcome failed{.state = queue::State::kFailed,
                        .code = "access_denied",
                        .message = agent::OutcomeMessage(refused)};
  ASSERT_TRUE(queue_->Finish("req-ad", failed).ok());
  CommandResult r = Queue({"show", "req-ad"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "(INSUFF_ACCESS_RIGHTS), data 0\\x0a\\x5c]")) << r.output;
  EXPECT_FALSE(Contains(r.output, "x5cx")) << r.output;
}

TEST_F(QueueCliTest, ShowTakesAnUnambiguousPrefix) {
  CommandResult r = Queue({"show", "req-3"});  // exact
  ASSERT_EQ(r.exit_code, 0) << r.output;
  CommandResult ambiguous = Queue({"show", "req-"});
  EXPECT_EQ(ambiguous.exit_code, 2) << ambiguous.output;
  EXPECT_TRUE(Contains(ambiguous.output, "more than one request starts with")) << ambiguous.output;
  CommandResult too_short = Queue({"show", "req"});  // under 4 characters: not a prefix
  EXPECT_EQ(too_short.exit_code, 1) << too_short.output;
}

TEST_F(QueueCliTest, ShowOfAnUnknownIdExits1AndSaysSo) {
  CommandResult r = Queue({"show", "no-such-request"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "no request with id \"no-such-request\"")) << r.output;
}

TEST_F(QueueCliTest, WithoutAQueueExits1AndSaysTheAgentHasNotRun) {
  TempDir empty("wbinspect-empty");
  CommandResult r = Wbagent({"queue", "list", "--state-dir", (empty.path() / "state").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "has not run")) << r.output;
}

TEST_F(QueueCliTest, NoPasswordInAnyOutput) {
  std::string out = Queue({"list"}).output + Queue({"list", "--json"}).output;
  for (const char* id : {"req-1", "req-2", "req-3", "req-4"}) {
    out += Queue({"show", id}).output + Queue({"show", id, "--json"}).output;
  }
  for (const std::string& password : Passwords()) {
    EXPECT_FALSE(Contains(out, password)) << password;
  }
  EXPECT_TRUE(Contains(out, "req-4")) << out;  // the scan saw real output
}

}  // namespace
}  // namespace wb::testing
