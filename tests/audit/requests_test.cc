// The request view: one row per request, joined from its records (audit.h, RequestRow).
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

using std::chrono::minutes;

// The records the pipeline writes (agent/pipeline.cc), a minute apart from
// 2027-01-15T08:00:00Z:
//   08:00 agent_started
//   08:01 req-alice: request_received, 08:02 policy_decision allow, 08:03 directory_write
//         directory_unavailable, 08:04 directory_write succeeded, 08:05 result_sent,
//         08:06 result_acknowledged (an administrator's reset, verified by fido2)
//   08:07 req-bob: request_rejected expired (an authenticated rejection, nothing else)
//   08:08 a request_rejected bad_signature whose id is not authenticated (no request_id)
//   08:09 req-carol: request_received, 08:10 policy_decision deny (protected_account)
class RequestViewTest : public TrailTest {
 protected:
  void SetUp() override {
    writer_ = Open();
    Event started;
    started.type = EventType::kAgentStarted;
    started.detail = "wbagent 0.1.0";
    Append(started);
    Append(Alice(EventType::kRequestReceived));
    Event allow = Alice(EventType::kPolicyDecision);
    allow.decision = Decision::kAllow;
    Append(allow);
    Append(AliceWrite("directory_unavailable", ""));
    Append(AliceWrite("succeeded", "CN=Alice Martin,OU=Staff,DC=corp,DC=example,DC=com"));
    Event sent = Alice(EventType::kResultSent);
    sent.outcome = "succeeded";
    Append(sent);
    Event acked = Alice(EventType::kResultAcknowledged);
    acked.outcome = "succeeded";
    Append(acked);
    Event bob;
    bob.type = EventType::kRequestRejected;
    bob.request_id = "req-bob";
    bob.outcome = "expired";
    bob.reasons = {"expired"};
    bob.detail = "the request expired at 2027-01-15T07:59:00Z";
    Append(bob);
    Event forged;
    forged.type = EventType::kRequestRejected;
    forged.outcome = "bad_signature";
    forged.reasons = {"bad_signature", "id_not_authenticated"};
    forged.detail = "claims request id req-alice, not authenticated: bad signature";
    Append(forged);
    Append(Carol(EventType::kRequestReceived));
    Event deny = Carol(EventType::kPolicyDecision);
    deny.decision = Decision::kDeny;
    deny.reasons = {"protected_account"};
    deny.outcome = "policy_denied";
    Append(deny);
  }

  void Append(const Event& e) {
    ASSERT_TRUE(writer_->Append(e).ok());
    clock_.Advance(minutes(1));
  }

  static Event Alice(EventType type) {
    Event e;
    e.type = type;
    e.request_id = "req-alice";
    e.correlation_id = "corr-alice";
    e.tenant = "contoso";
    e.operations = {Operation::kReset, Operation::kUnlock};
    e.target = {"alice@corp.example.com", ""};
    e.requester = {RequesterKind::kAdmin, "helpdesk.jo@corp.example.com", {"fido2"}};
    return e;
  }

  static Event AliceWrite(const std::string& outcome, const std::string& dn) {
    Event e = Alice(EventType::kDirectoryWrite);
    e.target.dn = dn;
    e.directory = "corp";
    e.server = "ldaps://dc1.corp.example.com:636";
    e.outcome = outcome;
    e.duration = std::chrono::milliseconds(outcome == "succeeded" ? 143 : 5000);
    return e;
  }

  static Event Carol(EventType type) {
    Event e;
    e.type = type;
    e.request_id = "req-carol";
    e.tenant = "contoso";
    e.operations = {Operation::kReset};
    e.target = {"carol@corp.example.com", ""};
    e.requester = {RequesterKind::kSelf, "carol@corp.example.com", {"sms", "authenticator_app"}};
    return e;
  }

  std::vector<RequestRow> Rows(const QueryFilter& filter = {}) {
    auto result = QueryRequests(file(), filter);
    EXPECT_TRUE(result.ok()) << result.error().ToString();
    return result.ok() ? result->rows : std::vector<RequestRow>{};
  }

  std::vector<std::string> Ids(const QueryFilter& filter = {}) {
    std::vector<std::string> ids;
    for (const RequestRow& row : Rows(filter)) ids.push_back(row.request_id);
    return ids;
  }

  using IdList = std::vector<std::string>;
  std::unique_ptr<Writer> writer_;
  QueryFilter filter_;
};

TEST_F(RequestViewTest, EachRequestIsOneRowInTheOrderOfItsFirstRecord) {
  EXPECT_EQ(Ids(), (IdList{"req-alice", "req-bob", "", "req-carol"}));
}

TEST_F(RequestViewTest, ARowJoinsWhoWhoseWhenHowAndTheResult) {
  const RequestRow alice = Rows().at(0);
  EXPECT_EQ(FormatTime(alice.time), "2027-01-15T08:01:00.000Z");
  EXPECT_EQ(FormatTime(alice.last_time), "2027-01-15T08:06:00.000Z");
  EXPECT_EQ(alice.first_seq, 2u);
  EXPECT_EQ(alice.last_seq, 7u);
  EXPECT_EQ(alice.agent, "agent-1");
  EXPECT_EQ(alice.tenant, "contoso");
  EXPECT_EQ(alice.correlation_id, "corr-alice");
  EXPECT_EQ(alice.operations, (std::vector<Operation>{Operation::kReset, Operation::kUnlock}));
  EXPECT_EQ(alice.target.requested, "alice@corp.example.com");
  EXPECT_EQ(alice.target.dn, "CN=Alice Martin,OU=Staff,DC=corp,DC=example,DC=com");
  EXPECT_EQ(alice.requester,
            (Requester{RequesterKind::kAdmin, "helpdesk.jo@corp.example.com", {"fido2"}}));
  EXPECT_EQ(alice.decision, Decision::kAllow);
  EXPECT_EQ(alice.outcome, "succeeded");
  EXPECT_EQ(alice.writes, 2);
  EXPECT_EQ(alice.directory, "corp");
  EXPECT_EQ(alice.server, "ldaps://dc1.corp.example.com:636");
  EXPECT_EQ(alice.duration, std::chrono::milliseconds(143));
  EXPECT_TRUE(alice.result_sent);
  EXPECT_TRUE(alice.result_acknowledged);
  EXPECT_EQ(alice.events,
            (std::vector<EventType>{EventType::kRequestReceived, EventType::kPolicyDecision,
                                    EventType::kDirectoryWrite, EventType::kDirectoryWrite,
                                    EventType::kResultSent, EventType::kResultAcknowledged}));
}

TEST_F(RequestViewTest, ARequestWithOnlyARejectionGetsARow) {
  const RequestRow bob = Rows().at(1);
  EXPECT_EQ(bob.request_id, "req-bob");
  EXPECT_EQ(bob.outcome, "expired");
  EXPECT_EQ(bob.reasons, (std::vector<std::string>{"expired"}));
  EXPECT_EQ(bob.writes, 0);
  EXPECT_FALSE(bob.result_sent);
  EXPECT_EQ(bob.events, (std::vector<EventType>{EventType::kRequestRejected}));
}

TEST_F(RequestViewTest, ARejectionWhoseIdIsNotAuthenticatedIsARowWithoutAnId) {
  const RequestRow forged = Rows().at(2);
  EXPECT_EQ(forged.request_id, "");
  EXPECT_EQ(forged.outcome, "bad_signature");
  EXPECT_EQ(forged.detail, "claims request id req-alice, not authenticated: bad signature");
  // It names req-alice in its detail, but is never filed under it.
  QueryFilter filter;
  filter.request_id = "req-alice";
  EXPECT_EQ(Ids(filter), (IdList{"req-alice"}));
  EXPECT_EQ(Rows(filter).at(0).writes, 2);
}

TEST_F(RequestViewTest, RecordsOfNoRequestAreInNoRow) {
  filter_.event = EventType::kAgentStarted;
  EXPECT_EQ(Ids(filter_), IdList{});
}

TEST_F(RequestViewTest, SinceAndUntilTakeAWholeRequestByItsFirstRecord) {
  // 08:03 falls inside req-alice (08:01 to 08:06): she is left out whole, not cut in two.
  filter_.since = *ParseTime("2027-01-15T08:03");
  EXPECT_EQ(Ids(filter_), (IdList{"req-bob", "", "req-carol"}));
  filter_.since = *ParseTime("2027-01-15T08:01");
  filter_.until = *ParseTime("2027-01-15T08:07");
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice"}));
}

TEST_F(RequestViewTest, UserMatchesTheTargetItsDnOrTheRequester) {
  filter_.user = "HELPDESK.JO@*";
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice"}));
  filter_.user = "CN=Alice Martin,*";  // the DN is only in the directory_write
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice"}));
  filter_.user = "carol@corp.example.com";
  EXPECT_EQ(Ids(filter_), (IdList{"req-carol"}));
}

TEST_F(RequestViewTest, OutcomeMatchesTheResultNotAnEarlierAttempt) {
  filter_.outcome = "directory_unavailable";
  EXPECT_EQ(Ids(filter_), IdList{});
  filter_.outcome = "succeeded";
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice"}));
  filter_.outcome = "policy_denied";
  EXPECT_EQ(Ids(filter_), (IdList{"req-carol"}));
}

TEST_F(RequestViewTest, EventKeepsTheRequestsThatHaveSuchARecord) {
  filter_.event = EventType::kPolicyDecision;
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice", "req-carol"}));
  filter_.event = EventType::kRequestRejected;
  EXPECT_EQ(Ids(filter_), (IdList{"req-bob", ""}));
}

TEST_F(RequestViewTest, DecisionKeepsTheRequestsWithSuchAPolicyDecision) {
  filter_.decision = Decision::kDeny;
  EXPECT_EQ(Ids(filter_), (IdList{"req-carol"}));
  filter_.decision = Decision::kAllow;
  EXPECT_EQ(Ids(filter_), (IdList{"req-alice"}));
  filter_.decision = Decision::kWouldDeny;
  EXPECT_EQ(Ids(filter_), IdList{});
}

// A request has a decision per check; a would_deny at admission counts although the account
// check then allowed it.
TEST_F(RequestViewTest, DecisionMatchesAnyOfARequestsDecisionsNotOnlyTheLast) {
  Event would = Alice(EventType::kPolicyDecision);
  would.request_id = "req-dan";
  would.decision = Decision::kWouldDeny;
  would.reasons = {"verification_insufficient"};
  Append(would);
  Event allow = would;
  allow.decision = Decision::kAllow;
  allow.reasons.clear();
  Append(allow);
  filter_.decision = Decision::kWouldDeny;
  EXPECT_EQ(Ids(filter_), (IdList{"req-dan"}));
}

TEST_F(RequestViewTest, RequestTakesAnUnambiguousPrefixAndRefusesAnAmbiguousOne) {
  filter_.request_id = "req-c";
  EXPECT_EQ(Ids(filter_), (IdList{"req-carol"}));
  filter_.request_id = "req-";
  auto ambiguous = QueryRequests(file(), filter_);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().code(), Code::kInvalidArgument);
  EXPECT_NE(ambiguous.error().message().find("req-alice, req-bob, req-carol"), std::string::npos)
      << ambiguous.error().message();
  filter_.request_id = "req";
  EXPECT_FALSE(QueryRequests(file(), filter_).ok());
}

TEST_F(RequestViewTest, TheTableAnswersTheAuditorsQuestionInOneLinePerRequest) {
  // Who (an administrator, or the users themselves) did what to whose account, when, verified
  // how, with what result: one row per request, a row's long cells wrapped within 120
  // columns.
  EXPECT_EQ(FormatRequests(Rows(), Format::kTable),
            "TIME (UTC)           REQUEST   REQUESTER       OPERATION     TARGET                  "
            "VERIFIED BY   RESULT\n"
            "2027-01-15 08:01:00  req-alic  helpdesk.jo     reset+unlock  alice@corp.example.com  "
            "fido2         succeeded, 2 attempts\n"
            "                               @corp.example.\n"
            "                               com\n"
            "2027-01-15 08:07:00  req-bob   -               -             -                       "
            "-             expired\n"
            "2027-01-15 08:08:00  -         -               -             -                       "
            "-             bad_signature (id_\n"
            "                                                                                      "
            "             not_authenticated)\n"
            "2027-01-15 08:09:00  req-caro  self            reset         carol@corp.example.com  "
            "sms+authenti  policy_denied\n"
            "                                                                                     "
            "cator_app     (protected_account)\n"
            "4 requests\n");
}

TEST_F(RequestViewTest, JsonIsOneObjectPerRequestWithEveryField) {
  const std::vector<std::string> lines = TextLines(FormatRequests(Rows(), Format::kJson));
  ASSERT_EQ(lines.size(), 4u);
  const auto alice = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(alice["request_id"], "req-alice");
  EXPECT_EQ(alice["time"], "2027-01-15T08:01:00.000Z");
  EXPECT_EQ(alice["last_time"], "2027-01-15T08:06:00.000Z");
  EXPECT_EQ(alice["first_seq"], 2);
  EXPECT_EQ(alice["last_seq"], 7);
  EXPECT_EQ(alice["operation"], nlohmann::json::array({"reset", "unlock"}));
  EXPECT_EQ(alice["target"]["dn"], "CN=Alice Martin,OU=Staff,DC=corp,DC=example,DC=com");
  EXPECT_EQ(alice["requester"]["kind"], "admin");
  EXPECT_EQ(alice["requester"]["id"], "helpdesk.jo@corp.example.com");
  EXPECT_EQ(alice["requester"]["verified_by"], nlohmann::json::array({"fido2"}));
  EXPECT_EQ(alice["decision"], "allow");
  EXPECT_EQ(alice["outcome"], "succeeded");
  EXPECT_EQ(alice["writes"], 2);
  EXPECT_EQ(alice["duration_ms"], 143);
  EXPECT_EQ(alice["result_sent"], true);
  EXPECT_EQ(alice["result_acknowledged"], true);
  EXPECT_EQ(alice["events"].size(), 6u);
  const auto bob = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(bob["duration_ms"], nullptr);
  EXPECT_EQ(bob["decision"], "");
  EXPECT_EQ(bob.size(), alice.size());  // every key, always
}

TEST_F(RequestViewTest, CsvHasAHeaderAndOneRowPerRequest) {
  const std::string csv = FormatRequests(Rows(), Format::kCsv);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "request_id,time,last_time,first_seq,last_seq,agent,tenant,correlation_id,operation,"
            "target,target_dn,requester_kind,requester,verified_by,decision,reasons,directory,"
            "server,outcome,writes,duration_ms,result_sent,result_acknowledged,events,detail");
  const std::vector<std::string> lines = TextLines(csv);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4],
            "req-carol,2027-01-15T08:09:00.000Z,2027-01-15T08:10:00.000Z,10,11,agent-1,contoso,,"
            "reset,carol@corp.example.com,,self,carol@corp.example.com,sms;authenticator_app,deny,"
            "protected_account,,,policy_denied,0,,false,false,request_received;policy_decision,\r");
}

TEST_F(RequestViewTest, GroupByRequestJoinsRecordsAlreadyRead) {
  auto all = Query(file(), {});
  ASSERT_TRUE(all.ok());
  const std::vector<RequestRow> rows = GroupByRequest(all->records);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].writes, 2);
  EXPECT_EQ(rows[3].outcome, "policy_denied");
}

}  // namespace
}  // namespace wb::audit::testing
