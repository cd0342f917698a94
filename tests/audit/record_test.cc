// The record schema: names, key order, omission, limits, and the MAC and chain rules as
// docs/audit.md states them (re-implemented here with OpenSSL alone, as an auditor would).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>

#include "audit/internal/record_json.h"
#include "audit/internal/seal.h"
#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

std::string Hex(const unsigned char* data, unsigned int size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string Sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), md, &size, EVP_sha256(), nullptr);
  return Hex(md, size);
}

std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &size);
  return Hex(md, size);
}

const std::string kZeros(64, '0');

class RecordTest : public TrailTest {
 protected:
  // Appends `events` to a new trail and returns its lines.
  std::vector<std::string> Write(const std::vector<Event>& events) {
    auto writer = Open();
    for (const Event& e : events) {
      EXPECT_TRUE(writer->Append(e).ok());
      clock_.Advance(std::chrono::milliseconds(1234));
    }
    EXPECT_TRUE(writer->Close().ok());
    return ReadLines(file());
  }
};

TEST(EventNames, AreStableSnakeCase) {
  const std::vector<std::pair<EventType, std::string>> expected = {
      {EventType::kRequestReceived, "request_received"},
      {EventType::kRequestRejected, "request_rejected"},
      {EventType::kPolicyDecision, "policy_decision"},
      {EventType::kDirectoryWrite, "directory_write"},
      {EventType::kRequestExpired, "request_expired"},
      {EventType::kResultSent, "result_sent"},
      {EventType::kResultAcknowledged, "result_acknowledged"},
      {EventType::kConfigLoaded, "config_loaded"},
      {EventType::kConfigRejected, "config_rejected"},
      {EventType::kAgentStarted, "agent_started"},
      {EventType::kAgentStopped, "agent_stopped"},
      {EventType::kKeyRotated, "key_rotated"},
      {EventType::kAuditRecovered, "audit_recovered"}};
  for (const auto& [type, name] : expected) {
    EXPECT_EQ(Name(type), name);
    EXPECT_EQ(ParseEventType(name), type);
  }
  EXPECT_FALSE(ParseEventType("password_reset").has_value());
}

TEST(EventNames, DurabilityFollowsTheDocumentedRule) {
  EXPECT_EQ(DefaultDurability(EventType::kDirectoryWrite), Durability::kDurable);
  EXPECT_EQ(DefaultDurability(EventType::kPolicyDecision), Durability::kDurable);
  EXPECT_EQ(DefaultDurability(EventType::kRequestRejected), Durability::kDurable);
  EXPECT_EQ(DefaultDurability(EventType::kRequestReceived), Durability::kBuffered);
  EXPECT_EQ(DefaultDurability(EventType::kResultSent), Durability::kBuffered);
  EXPECT_EQ(DefaultDurability(EventType::kResultAcknowledged), Durability::kBuffered);
}

TEST_F(RecordTest, RecordHasTheDocumentedKeysInOrder) {
  const std::vector<std::string> lines = Write({SampleEvent(1)});
  ASSERT_EQ(lines.size(), 1u);
  const std::string expected =
      R"({"v":1,"seq":1,"time":"2027-01-15T08:00:00.000Z","agent":"agent-1",)"
      R"("event":"directory_write","request_id":"7d444840-9dc0-11d1-b245-5ffdce74fa11",)"
      R"("correlation_id":"corr-1","tenant":"contoso","operation":["reset","unlock"],)"
      R"("target":{"requested":"user1@corp.example.com",)"
      R"("dn":"CN=User 1,OU=Staff,DC=corp,DC=example,DC=com"},)"
      R"("requester":{"kind":"self","id":"user1@corp.example.com","verified_by":["sms","email"]},)"
      R"("decision":"allow","directory":"corp","server":"ldaps://dc1.corp.example.com:636",)"
      R"("outcome":"succeeded","duration_ms":41,"prev":")" +
      kZeros + R"(","hmac":")";
  EXPECT_EQ(lines[0].substr(0, expected.size()), expected);
  EXPECT_EQ(lines[0].size(), expected.size() + 64 + 2);
  EXPECT_EQ(lines[0].substr(lines[0].size() - 2), "\"}");
}

TEST_F(RecordTest, EmptyFieldsAreLeftOut) {
  Event e;
  e.type = EventType::kAgentStarted;
  e.detail = "wbagent 0.1.0";
  const std::vector<std::string> lines = Write({e});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].substr(0, lines[0].find(",\"hmac\"")),
            R"({"v":1,"seq":1,"time":"2027-01-15T08:00:00.000Z","agent":"agent-1",)"
            R"("event":"agent_started","detail":"wbagent 0.1.0","prev":")" +
                kZeros + "\"");
}

TEST_F(RecordTest, HmacAndChainFollowTheDocumentedRule) {
  const std::vector<std::string> lines = Write({SampleEvent(1), SampleEvent(2), SampleEvent(3)});
  ASSERT_EQ(lines.size(), 3u);
  const std::string key(kKeyBytes, 'k');
  std::string prev = kZeros;
  for (const std::string& line : lines) {
    const std::size_t at = line.rfind(",\"hmac\":\"");
    ASSERT_NE(at, std::string::npos);
    const std::string body = line.substr(0, at) + "}";
    const std::string mac = line.substr(at + 9, 64);
    EXPECT_EQ(HmacSha256(key, body), mac);
    EXPECT_NE(body.find("\"prev\":\"" + prev + "\"}"), std::string::npos);
    prev = Sha256(line);
  }
}

TEST_F(RecordTest, TimeIsUtcWithMilliseconds) {
  clock_.Advance(std::chrono::microseconds(123'987));
  const std::vector<std::string> lines = Write({SampleEvent(1)});
  EXPECT_NE(lines[0].find(R"("time":"2027-01-15T08:00:00.123Z")"), std::string::npos);
}

TEST_F(RecordTest, ParsedRecordEqualsTheAppendedEvent) {
  Event e = SampleEvent(7, EventType::kPolicyDecision);
  e.decision = Decision::kDeny;
  e.reasons = {"protected_account", "outside_scope"};
  e.requester = {RequesterKind::kAdmin, "helpdesk@corp.example.com", {"fido2"}};
  e.operations = {Operation::kReset, Operation::kRequireChange, Operation::kClearRequireChange};
  e.detail = "Ünïcödé and \"quotes\" \\ and a tab\t";
  const std::vector<std::string> lines = Write({e});
  auto record = ParseRecord(lines[0]);
  ASSERT_TRUE(record.ok()) << record.error().ToString();
  EXPECT_EQ(record->seq, 1u);
  EXPECT_EQ(record->agent, "agent-1");
  EXPECT_EQ(FormatTime(record->time), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(record->event, e);
  EXPECT_EQ(record->prev, kZeros);
  EXPECT_EQ(record->hmac.size(), 64u);
}

TEST_F(RecordTest, LongFieldsAreCutAtACharacterBoundary) {
  Event e = SampleEvent(1);
  // The cut at kMaxFieldBytes - 3 falls inside the first "é": it moves back before it.
  e.target.dn = std::string(kMaxFieldBytes - 4, 'a') + "\xC3\xA9\xC3\xA9x";
  e.detail = std::string(10000, 'd');
  e.reasons = std::vector<std::string>(40, std::string(1000, 'r'));
  const std::vector<std::string> lines = Write({e});
  auto record = ParseRecord(lines[0]);
  ASSERT_TRUE(record.ok()) << record.error().ToString();
  EXPECT_EQ(record->event.target.dn, std::string(kMaxFieldBytes - 4, 'a') + "...");
  EXPECT_EQ(record->event.detail.size(), kMaxDetailBytes);
  EXPECT_EQ(record->event.reasons.size(), kMaxListItems);
  EXPECT_EQ(record->event.reasons[0].size(), kMaxListItemBytes);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(RecordTest, InvalidUtf8IsReplacedAndControlCharactersEscaped) {
  Event e = SampleEvent(1);
  e.target.requested = "bad\xFF\xC0utf8\x1b[31m";
  const std::vector<std::string> lines = Write({e});
  EXPECT_NE(lines[0].find("bad\xEF\xBF\xBD\xEF\xBF\xBDutf8\\u001b[31m"), std::string::npos)
      << lines[0];
  EXPECT_TRUE(Verify().ok());
}

// The canonical line is written directly (not through a JSON object); its bytes must stay
// those of nlohmann's compact dump that wrote every trail before, or those trails would stop
// verifying as canonical. So for random records, with every kind of character a field may
// hold: nlohmann, parsing the line and dumping it again as the old writer did, gives back the
// same bytes; and the line parses to a record whose body is the same line.
TEST(RecordBodyProperty, IsByteForByteNlohmannsCompactDumpForRandomRecords) {
  std::mt19937 random(20261206);
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           "0",
                                           " ",
                                           "\"",
                                           "\\",
                                           "/",
                                           "\b",
                                           "\f",
                                           "\n",
                                           "\r",
                                           "\t",
                                           std::string(1, '\0'),
                                           "\x01",
                                           "\x1f",
                                           "\x7f",
                                           "\xC3\xA9",
                                           "\xE2\x82\xAC",
                                           "\xF0\x9F\x94\x91",
                                           "\xFF",
                                           "\xC0",
                                           "\xED\xA0\x80",
                                           "\xE2\x82",
                                           "u0041",
                                           "{}",
                                           "[]",
                                           ",",
                                           ":"};
  const auto text = [&](std::size_t max_pieces) {
    std::string out;
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, max_pieces)(random);
    for (std::size_t i = 0; i < n; ++i) {
      out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(random)];
    }
    return out;
  };
  const auto list = [&] {
    std::vector<std::string> out(std::uniform_int_distribution<std::size_t>(0, 20)(random));
    for (auto& item : out) item = text(std::uniform_int_distribution<int>(0, 1)(random) ? 8 : 120);
    return out;
  };
  for (int i = 0; i < 3000; ++i) {
    Record r;
    r.seq = std::uniform_int_distribution<std::uint64_t>(1, UINT64_MAX / 2)(random);
    r.time = WallTime(std::chrono::milliseconds(
        std::uniform_int_distribution<std::int64_t>(0, 4'000'000'000'000)(random)));
    r.agent = text(4);
    r.prev = kZeros;
    r.event.type = static_cast<EventType>(std::uniform_int_distribution<int>(0, 5)(random));
    r.event.request_id = text(6);
    r.event.correlation_id = text(3);
    r.event.tenant = text(3);
    for (int k = std::uniform_int_distribution<int>(0, 3)(random); k > 0; --k) {
      r.event.operations.push_back(Operation::kReset);
    }
    r.event.target.requested = text(10);
    // Long enough, now and then, to be cut (kMaxFieldBytes; detail kMaxDetailBytes).
    r.event.target.dn = text(std::uniform_int_distribution<int>(0, 4)(random) == 0 ? 700 : 10);
    r.event.requester.kind = std::uniform_int_distribution<int>(0, 1)(random)
                                 ? RequesterKind::kSelf
                                 : RequesterKind::kNone;
    r.event.requester.id = text(4);
    r.event.requester.verified_by = list();
    r.event.decision =
        std::uniform_int_distribution<int>(0, 1)(random) ? Decision::kDeny : Decision::kNone;
    r.event.reasons = list();
    r.event.directory = text(3);
    r.event.server = text(3);
    r.event.outcome = text(3);
    if (std::uniform_int_distribution<int>(0, 1)(random)) {
      r.event.duration = std::chrono::milliseconds(
          std::uniform_int_distribution<std::int64_t>(-5, 1'000'000)(random));
    }
    r.event.detail = text(std::uniform_int_distribution<int>(0, 4)(random) == 0 ? 2500 : 20);

    const std::string body = internal::RecordBody(r);
    const auto parsed = nlohmann::ordered_json::parse(body, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << body;
    ASSERT_EQ(parsed.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), body)
        << "record " << i;
    const std::string line = internal::Seal(body, Secret(std::string(32, 'k')));
    auto again = ParseRecord(line);
    ASSERT_TRUE(again.ok()) << again.error().ToString() << "\n" << line;
    ASSERT_EQ(internal::RecordBody(*again), body) << "record " << i;
  }
}

// The writer and verify seal and check every line with a key set up once: the same MAC as
// OpenSSL's one-shot HMAC (the documented rule), for any data, from concurrent threads.
TEST(HmacKeyTest, IsTheDocumentedHmacForAnyDataAndFromConcurrentThreads) {
  for (const std::string& key : {std::string(32, 'k'), std::string("\x00\x01secret", 8)}) {
    const internal::HmacKey mac{Secret(key)};
    std::mt19937 random(7);
    std::vector<std::string> data;
    for (int i = 0; i < 50; ++i) {
      std::string d(std::uniform_int_distribution<std::size_t>(0, 2000)(random), '\0');
      for (char& c : d) c = static_cast<char>(random());
      data.push_back(std::move(d));
    }
    for (const std::string& d : data) ASSERT_EQ(mac.Hex(d), HmacSha256(key, d));
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int round = 0; round < 20; ++round) {
          for (const std::string& d : data) wrong += mac.Hex(d) != HmacSha256(key, d) ? 1 : 0;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
  }
}

TEST(ParseRecord, RefusesUnknownKeysAndWrongTypes) {
  const std::string tail = R"(,"prev":")" + kZeros + R"(","hmac":")" + kZeros + "\"}";
  const std::string head =
      R"({"v":1,"seq":1,"time":"2027-01-15T08:00:00.000Z","event":"agent_started")";
  EXPECT_TRUE(ParseRecord(head + tail).ok());
  EXPECT_FALSE(ParseRecord(head + R"(,"password":"x")" + tail).ok());
  EXPECT_FALSE(ParseRecord(head + R"(,"duration_ms":-1)" + tail).ok());
  EXPECT_FALSE(ParseRecord(head + R"(,"decision":"maybe")" + tail).ok());
  EXPECT_FALSE(
      ParseRecord(R"({"v":2,"seq":1,"time":"2027-01-15T08:00:00.000Z","event":"agent_started")" +
                  tail)
          .ok());
  EXPECT_FALSE(ParseRecord("not json").ok());
}

TEST(Time, FormatsAndParsesUtc) {
  auto t = ParseTime("2026-03-01T12:34:56.789Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatTime(*t), "2026-03-01T12:34:56.789Z");
  EXPECT_EQ(FormatTime(*ParseTime("2026-03-01")), "2026-03-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(*ParseTime("2026-03-01 07:08")), "2026-03-01T07:08:00.000Z");
  EXPECT_EQ(FormatTime(*ParseTime("2026-03-01T07:08:09")), "2026-03-01T07:08:09.000Z");
  EXPECT_FALSE(ParseTime("2026-02-30").ok());
  EXPECT_FALSE(ParseTime("2026-03-01T25:00").ok());
  EXPECT_FALSE(ParseTime("yesterday").ok());
  EXPECT_FALSE(ParseTime("2026-03-01T07:08+02:00").ok());
}

// Found by fuzz_audit_verify: a year past 2262 overflowed WallTime (undefined behaviour), from
// an edited trail line, `audit query --since` or the checkpoint.
TEST(Time, ATimeBeyondWhatWallTimeHoldsIsRefused) {
  EXPECT_TRUE(ParseTime("2100-01-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseTime("2100-01-01T00:00:01Z").ok());
  EXPECT_FALSE(ParseTime("2300-01-01T00:00:00.000Z").ok());
  EXPECT_FALSE(ParseTime("9999-12-31").ok());
  EXPECT_FALSE(ParseTime("1969-12-31T23:59:59Z").ok());
}

}  // namespace
}  // namespace wb::audit::testing
