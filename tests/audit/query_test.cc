#include <sstream>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

using std::chrono::hours;

class QueryTest : public TrailTest {
 protected:
  // Four events an hour apart from 2027-01-15T08:00:00Z.
  void SetUp() override {
    auto writer = Open();
    Event alice = SampleEvent(1);
    alice.target = {"alice@corp.example.com", "CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=com"};
    alice.requester = {RequesterKind::kSelf, "alice@corp.example.com", {"sms"}};
    alice.request_id = "req-a";
    Event bob = SampleEvent(2, EventType::kPolicyDecision);
    bob.target = {"bob", ""};
    bob.requester = {RequesterKind::kAdmin, "helpdesk@corp.example.com", {"fido2"}};
    bob.request_id = "req-b";
    bob.decision = Decision::kDeny;
    bob.reasons = {"protected_account"};
    bob.outcome = "policy_denied";
    Event carol = SampleEvent(3);
    carol.target = {"carol@corp.example.com", ""};
    carol.requester = {RequesterKind::kAdmin, "Alice@Corp.Example.com", {"fido2"}};
    carol.request_id = "req-c";
    carol.outcome = "user_not_found";
    Event started;
    started.type = EventType::kAgentStarted;
    for (const Event& e : {alice, bob, carol, started}) {
      ASSERT_TRUE(writer->Append(e).ok());
      clock_.Advance(hours(1));
    }
  }

  std::vector<std::string> Requests(const QueryFilter& filter) {
    auto result = audit::Query(file(), filter);
    EXPECT_TRUE(result.ok()) << result.error().ToString();
    std::vector<std::string> ids;
    for (const auto& r : result->records) ids.push_back(r.record.event.request_id);
    return ids;
  }

  using Ids = std::vector<std::string>;
};

TEST_F(QueryTest, NoFilterReturnsEverythingInOrder) {
  EXPECT_EQ(Requests({}), (Ids{"req-a", "req-b", "req-c", ""}));
}

TEST_F(QueryTest, SinceIsInclusiveAndUntilExclusive) {
  QueryFilter filter;
  filter.since = *ParseTime("2027-01-15T09:00:00Z");
  filter.until = *ParseTime("2027-01-15T11:00:00Z");
  EXPECT_EQ(Requests(filter), (Ids{"req-b", "req-c"}));
}

TEST_F(QueryTest, UserMatchesTargetDnAndRequesterIgnoringCase) {
  QueryFilter filter;
  filter.user = "ALICE@corp.example.com";
  EXPECT_EQ(Requests(filter), (Ids{"req-a", "req-c"}));  // her reset, and the one she made
  filter.user = "CN=Alice Smith,*";
  EXPECT_EQ(Requests(filter), (Ids{"req-a"}));
  filter.user = "bob";
  EXPECT_EQ(Requests(filter), (Ids{"req-b"}));
  filter.user = "bo";
  EXPECT_EQ(Requests(filter), (Ids{}));
  filter.user = "*@corp.example.com";
  EXPECT_EQ(Requests(filter), (Ids{"req-a", "req-b", "req-c"}));
}

TEST_F(QueryTest, RequestMatchesAnUnambiguousPrefixAndOutcomeExactly) {
  QueryFilter filter;
  filter.request_id = "req-b";
  EXPECT_EQ(Requests(filter), (Ids{"req-b"}));
  filter.request_id = "eq-b";
  EXPECT_EQ(Requests(filter), (Ids{}));
  filter = {};
  filter.outcome = "user_not_found";
  EXPECT_EQ(Requests(filter), (Ids{"req-c"}));
  filter.outcome = "user_not";
  EXPECT_EQ(Requests(filter), (Ids{}));
}

// The refusal of the prefix "req-", which three requests start with.
::testing::AssertionResult RefusedAsAmbiguous(const Result<QueryResult>& result) {
  if (result.ok()) return ::testing::AssertionFailure() << "not refused";
  const std::string expected =
      "more than one request starts with \"req-\": req-a, req-b, req-c; give more characters";
  if (result.error().code() != Code::kInvalidArgument || result.error().message() != expected) {
    return ::testing::AssertionFailure() << result.error().ToString();
  }
  return ::testing::AssertionSuccess();
}

TEST_F(QueryTest, APrefixThatSeveralRequestsStartWithIsRefusedNamingThem) {
  QueryFilter filter;
  filter.request_id = "req-";
  EXPECT_TRUE(RefusedAsAmbiguous(audit::Query(file(), filter)));
}

TEST_F(QueryTest, OtherFiltersDoNotMakeAnAmbiguousPrefixUnambiguous) {
  QueryFilter filter;
  filter.request_id = "req-";
  filter.outcome = "user_not_found";  // only req-c has it, but req- still names three
  EXPECT_TRUE(RefusedAsAmbiguous(audit::Query(file(), filter)));
}

TEST_F(QueryTest, APrefixShorterThanFourCharactersIsRefused) {
  QueryFilter filter;
  filter.request_id = "req";
  auto result = audit::Query(file(), filter);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), Code::kInvalidArgument);
  EXPECT_NE(result.error().message().find("a prefix needs 4 characters or more"), std::string::npos)
      << result.error().message();
}

TEST_F(QueryTest, AWholeIdWinsOverALongerIdItIsAPrefixOf) {
  auto writer = Open();
  Event longer = SampleEvent(7);
  longer.request_id = "req-bb";
  ASSERT_TRUE(writer->Append(longer).ok());
  QueryFilter filter;
  filter.request_id = "req-b";
  EXPECT_EQ(Requests(filter), (Ids{"req-b"}));
  filter.request_id = "req-bb";
  EXPECT_EQ(Requests(filter), (Ids{"req-bb"}));
}

TEST_F(QueryTest, AShortWholeIdIsNotRefusedAsTooShort) {
  auto writer = Open();
  Event short_id = SampleEvent(7);
  short_id.request_id = "r1";
  ASSERT_TRUE(writer->Append(short_id).ok());
  QueryFilter filter;
  filter.request_id = "r1";
  EXPECT_EQ(Requests(filter), (Ids{"r1"}));
}

TEST_F(QueryTest, EventKeepsOnlyRecordsOfThatType) {
  QueryFilter filter;
  filter.event = EventType::kPolicyDecision;
  EXPECT_EQ(Requests(filter), (Ids{"req-b"}));
  filter.event = EventType::kAgentStarted;
  EXPECT_EQ(Requests(filter), (Ids{""}));
}

TEST_F(QueryTest, DecisionKeepsOnlyRecordsWithThatDecision) {
  QueryFilter filter;
  filter.decision = Decision::kDeny;
  EXPECT_EQ(Requests(filter), (Ids{"req-b"}));
  filter.decision = Decision::kWouldDeny;
  EXPECT_EQ(Requests(filter), Ids{});
  EXPECT_EQ(ParseDecision("would_deny"), Decision::kWouldDeny);
  EXPECT_EQ(ParseDecision("hold"), Decision::kHold);
  EXPECT_EQ(ParseDecision(""), std::nullopt);
  EXPECT_EQ(ParseDecision("maybe"), std::nullopt);
}

// ---- --since/--until -----------------------------------------------------------------------

class QueryTimeTest : public ::testing::Test {
 protected:
  // 2027-01-15T08:00:00Z plus 1234 s: 08:20:34.
  QueryTimeTest() { clock_.Advance(std::chrono::seconds(1234)); }
  std::string At(std::string_view text) {
    auto t = ParseQueryTime(text, clock_);
    return t.ok() ? FormatTime(*t) : "error: " + t.error().message();
  }
  wb::testing::FakeClock clock_;
};

TEST_F(QueryTimeTest, AgesCountBackFromTheClock) {
  EXPECT_EQ(At("30m"), "2027-01-15T07:50:34.000Z");
  EXPECT_EQ(At("24h"), "2027-01-14T08:20:34.000Z");
  EXPECT_EQ(At("7d"), "2027-01-08T08:20:34.000Z");
  EXPECT_EQ(At("now"), "2027-01-15T08:20:34.000Z");
}

TEST_F(QueryTimeTest, TodayAndYesterdayAreMidnightUtc) {
  EXPECT_EQ(At("today"), "2027-01-15T00:00:00.000Z");
  EXPECT_EQ(At("yesterday"), "2027-01-14T00:00:00.000Z");
}

TEST_F(QueryTimeTest, AbsoluteTimesParseAsBefore) {
  EXPECT_EQ(At("2026-03-02"), "2026-03-02T00:00:00.000Z");
  EXPECT_EQ(At("2026-03-02T09:15:07.317Z"), "2026-03-02T09:15:07.317Z");
}

TEST_F(QueryTimeTest, ABadTimeNamesTheFormsAccepted) {
  for (const char* bad : {"24", "h", "0h", "24x", "-3d", "123456d", "tomorrow", "Today", ""}) {
    const std::string got = At(bad);
    EXPECT_NE(got.find("error: '"), std::string::npos) << bad << ": " << got;
    EXPECT_NE(got.find("30m, 24h or 7d, or now, today or yesterday"), std::string::npos)
        << bad << ": " << got;
  }
  EXPECT_NE(At("2026-02-30").find("is not a UTC time"), std::string::npos);
}

TEST_F(QueryTest, ReadsRotatedFilesInOrderAndSkipsTornLines) {
  std::filesystem::rename(file(), rotated(1));
  WriterOptions options = Options();
  auto writer = Open(options);
  Event later = SampleEvent(9);
  later.request_id = "req-z";
  ASSERT_TRUE(writer->Append(later).ok());
  ASSERT_TRUE(writer->Close().ok());
  AppendBytes(file(), "{\"v\":1,\"seq\":6,\"ti");
  auto result = audit::Query(file(), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->records.size(), 5u);
  EXPECT_EQ(result->records.back().record.event.request_id, "req-z");
  EXPECT_EQ(result->skipped_lines, 1u);
}

TEST_F(QueryTest, JsonIsTheStoredLines) {
  QueryFilter filter;
  filter.request_id = "req-b";
  auto result = audit::Query(file(), filter);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(FormatRecords(result->records, Format::kJson), ReadLines(file())[1] + "\n");
}

// An RFC 4180 reader: what a spreadsheet or csv module does with the output.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::move(cell));
      cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(std::move(cell));
      cell.clear();
      rows.emplace_back();
      ++i;
    } else {
      cell += c;
    }
  }
  rows.pop_back();  // after the final CRLF
  return rows;
}

TEST_F(QueryTest, CsvIsRfc4180WithAHeader) {
  auto result = audit::Query(file(), {});
  ASSERT_TRUE(result.ok());
  const std::string csv = FormatRecords(result->records, Format::kCsv);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "seq,time,agent,event,request_id,correlation_id,tenant,operation,target,target_dn,"
            "requester_kind,requester,verified_by,decision,reasons,directory,server,outcome,"
            "duration_ms,detail");
  auto rows = ParseCsv(csv);
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& row : rows) EXPECT_EQ(row.size(), 20u);
  EXPECT_EQ(rows[1][9], "CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=com");
  EXPECT_EQ(rows[1][7], "reset;unlock");
  EXPECT_EQ(rows[2][14], "protected_account");
}

TEST_F(QueryTest, CsvEscapesCommasQuotesAndLineBreaks) {
  Event tricky = SampleEvent(5);
  tricky.request_id = "req-t";
  tricky.target = {"o\"brien, pat", "CN=O\"Brien\\, Pat,DC=corp"};
  tricky.detail = "line one\r\nline two\nthree";
  auto writer = Open();
  ASSERT_TRUE(writer->Append(tricky).ok());
  QueryFilter filter;
  filter.request_id = "req-t";
  auto result = audit::Query(file(), filter);
  ASSERT_TRUE(result.ok());
  const std::string csv = FormatRecords(result->records, Format::kCsv);
  EXPECT_NE(csv.find(",\"o\"\"brien, pat\",\"CN=O\"\"Brien\\, Pat,DC=corp\","), std::string::npos)
      << csv;
  auto rows = ParseCsv(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][8], "o\"brien, pat");
  EXPECT_EQ(rows[1][9], "CN=O\"Brien\\, Pat,DC=corp");
  EXPECT_EQ(rows[1][19], "line one\r\nline two\nthree");
}

TEST_F(QueryTest, CsvDefusesSpreadsheetFormulas) {
  Event formula = SampleEvent(5);
  formula.request_id = "req-f";
  formula.target = {"=HYPERLINK(\"http://evil\",\"x\")", "@SUM(1)"};
  auto writer = Open();
  ASSERT_TRUE(writer->Append(formula).ok());
  QueryFilter filter;
  filter.request_id = "req-f";
  auto rows = ParseCsv(FormatRecords(audit::Query(file(), filter)->records, Format::kCsv));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][8], "'=HYPERLINK(\"http://evil\",\"x\")");
  EXPECT_EQ(rows[1][9], "'@SUM(1)");
}

TEST_F(QueryTest, TableIsAlignedAndCountsRecords) {
  auto result = audit::Query(file(), {});
  ASSERT_TRUE(result.ok());
  const std::string table = FormatRecords(result->records, Format::kTable);
  std::vector<std::string> lines = TextLines(table);
  EXPECT_EQ(lines.front().rfind("TIME (UTC)", 0), 0u);
  EXPECT_EQ(lines.back(), "4 records");
  const std::size_t event_col = lines[0].find("EVENT");
  std::vector<std::string> events;
  for (const std::string& line : lines) {
    if (line.rfind("2027-01-15 ", 0) == 0) events.push_back(line.substr(event_col, 15));
  }
  EXPECT_EQ(events, (std::vector<std::string>{"directory_write", "policy_decision",
                                              "directory_write", "agent_started  "}));
  EXPECT_NE(lines[1].find("2027-01-15 08:00:00  1 "), std::string::npos) << lines[1];
  EXPECT_EQ(ColumnText(table, "REQUESTER", "DECISION"),
            "self(sms)admin:helpdesk@corp.example.com(fido2)admin:Alice@Corp.Example.com(fido2)-")
      << table;
  EXPECT_EQ(ColumnText(table, "DECISION", "OUTCOME"), "allowdeny(protected_account)allow-")
      << table;
}

TEST_F(QueryTest, TableShowsNoControlCharacters) {
  Event evil = SampleEvent(5);
  evil.request_id = "req-e";
  evil.target = {
      "x\x1b]0;pwned\x07\xC2\x9B"
      "31m",
      ""};
  auto writer = Open();
  ASSERT_TRUE(writer->Append(evil).ok());
  QueryFilter filter;
  filter.request_id = "req-e";
  const std::string table = FormatRecords(audit::Query(file(), filter)->records, Format::kTable);
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_EQ(table.find('\x07'), std::string::npos);
  EXPECT_EQ(table.find("\xC2\x9B"), std::string::npos);
  EXPECT_EQ(ColumnText(table, "TARGET", "REQUESTER"), "x?]0;pwned??31m") << table;
}

TEST_F(QueryTest, FormatNamesParse) {
  EXPECT_EQ(ParseFormat("table"), Format::kTable);
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
  EXPECT_FALSE(ParseFormat("xml").has_value());
}

}  // namespace
}  // namespace wb::audit::testing
