// Tables for a terminal: at most kTableWidth wide, long cells wrapped, never cut.
#include "audit/internal/table.h"

#include <sstream>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

std::string LongDn() {
  std::string dn = "CN=Maximiliane Alexandra von Hohenberg-Wittelsbach";
  for (int i = 1; i <= 6; ++i) dn += ",OU=Regional Service Desk Europe " + std::to_string(i);
  return dn + ",DC=corp,DC=example,DC=com";
}

void ExpectFits(const std::string& table) {
  for (const std::string& line : TextLines(table)) {
    EXPECT_LE(internal::DisplayWidth(line), kTableWidth) << line;
  }
  EXPECT_EQ(table.find("..."), std::string::npos) << table;
}

class TableTest : public TrailTest {
 protected:
  void SetUp() override {
    auto writer = Open();
    Event e = SampleEvent(1);
    e.request_id = "req-long";
    e.target = {LongDn(), LongDn()};
    e.requester = {RequesterKind::kAdmin,
                   "first.line.support.agent.with.a.long.name@helpdesk.corp.example.com",
                   {"fido2", "smartcard", "authenticator_app"}};
    e.outcome = "policy_in_history";
    e.detail = "the directory refused the password: it is one of the last 24 passwords used";
    ASSERT_TRUE(writer->Append(e).ok());
    all_ = *Query(file(), {});
  }
  QueryResult all_;
};

TEST_F(TableTest, ALongDnInTheRequestViewWrapsOntoContinuationLinesAndIsNotCut) {
  const std::string table = FormatRequests(GroupByRequest(all_.records), Format::kTable);
  const std::vector<std::string> lines = TextLines(table);
  ASSERT_GT(lines.size(), 3u) << table;  // header, the row on several lines, the count
  ExpectFits(table);
  EXPECT_EQ(ColumnText(table, "TARGET", "VERIFIED BY"), WithoutSpaces(LongDn())) << table;
  EXPECT_EQ(ColumnText(table, "REQUESTER", "OPERATION"), all_.records[0].record.event.requester.id)
      << table;
  // A continuation line leaves the columns that have ended blank.
  EXPECT_EQ(lines[2].rfind("                     ", 0), 0u) << table;
  EXPECT_EQ(lines.back(), "1 request");
}

TEST_F(TableTest, TheEventsTableFitsTheWidthWithEveryDetailWhole) {
  const std::string table = FormatRecords(all_.records, Format::kTable);
  ExpectFits(table);
  EXPECT_EQ(ColumnText(table, "TARGET", "REQUESTER"), WithoutSpaces(LongDn())) << table;
  EXPECT_EQ(ColumnText(table, "DETAIL", ""), WithoutSpaces(all_.records[0].record.event.detail))
      << table;
  EXPECT_EQ(TextLines(table).back(), "1 record");
}

TEST_F(TableTest, ANarrowTableIsLeftAsItIs) {
  const std::string table = internal::FormatTable({{"A", 1}, {"B", 1}}, {{"x", "y"}}, 120);
  EXPECT_EQ(table, "A  B\nx  y\n");
}

TEST_F(TableTest, WrapBreaksAfterACommaOrSpaceInTheSecondHalf) {
  EXPECT_EQ(internal::Wrap("CN=Alice Martin,OU=Staff,DC=corp", 16),
            (std::vector<std::string>{"CN=Alice Martin,", "OU=Staff,DC=corp"}));
  EXPECT_EQ(internal::Wrap("one two three", 8), (std::vector<std::string>{"one two", "three"}));
  // No break in the second half: cut at the width.
  EXPECT_EQ(internal::Wrap("a,bcdefghijkl", 6),
            (std::vector<std::string>{"a,bcde", "fghijk", "l"}));
}

TEST_F(TableTest, WrapNeverSplitsAUtf8Character) {
  const std::vector<std::string> pieces = internal::Wrap("\xC3\xA9\xC3\xA9\xC3\xA9", 2);
  EXPECT_EQ(pieces, (std::vector<std::string>{"\xC3\xA9\xC3\xA9", "\xC3\xA9"}));
}

}  // namespace
}  // namespace wb::audit::testing
