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

// The writer before records were written directly (audit/record.cc at 945c0fe^), kept as the
// oracle: every trail it wrote must stay canonical, so the direct writer must give the same
// bytes for every record it could write.
namespace oracle {

using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at text[i], or 0 when it is not one.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Valid UTF-8, each invalid byte replaced by U+FFFD, cut to `max` bytes at a character
// boundary with "..." at the end. Idempotent, so a parsed record re-serialises to itself.
std::string Clean(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  if (out.size() <= max) return out;
  std::size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

void PutString(OrderedJson& j, const char* key, std::string_view value,
               std::size_t max = kMaxFieldBytes) {
  if (!value.empty()) j[key] = Clean(value, max);
}

void PutList(OrderedJson& j, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) return;
  OrderedJson list = OrderedJson::array();
  for (std::size_t i = 0; i < values.size() && i < kMaxListItems; ++i) {
    list.push_back(Clean(values[i], kMaxListItemBytes));
  }
  j[key] = std::move(list);
}

OrderedJson EventMembers(const Event& e) {
  OrderedJson j = OrderedJson::object();
  PutString(j, "request_id", e.request_id);
  PutString(j, "correlation_id", e.correlation_id);
  PutString(j, "tenant", e.tenant);
  if (!e.operations.empty()) {
    OrderedJson ops = OrderedJson::array();
    for (std::size_t i = 0; i < e.operations.size() && i < kMaxListItems; ++i) {
      ops.push_back(Name(e.operations[i]));
    }
    j["operation"] = std::move(ops);
  }
  OrderedJson target = OrderedJson::object();
  PutString(target, "requested", e.target.requested);
  PutString(target, "dn", e.target.dn);
  if (!target.empty()) j["target"] = std::move(target);
  OrderedJson requester = OrderedJson::object();
  if (e.requester.kind != RequesterKind::kNone) requester["kind"] = Name(e.requester.kind);
  PutString(requester, "id", e.requester.id);
  PutList(requester, "verified_by", e.requester.verified_by);
  if (!requester.empty()) j["requester"] = std::move(requester);
  if (e.decision != Decision::kNone) j["decision"] = Name(e.decision);
  PutList(j, "reasons", e.reasons);
  PutString(j, "directory", e.directory);
  PutString(j, "server", e.server);
  PutString(j, "outcome", e.outcome);
  if (e.duration) {
    j["duration_ms"] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, e.duration->count()));
  }
  PutString(j, "detail", e.detail, kMaxDetailBytes);
  return j;
}

// ---- Parsing ----------------------------------------------------------------------------

std::string RecordBody(const Record& record) {
  OrderedJson j = OrderedJson::object();
  j["v"] = 1;
  j["seq"] = record.seq;
  j["time"] = FormatTime(record.time);
  PutString(j, "agent", record.agent);
  j["event"] = Name(record.event.type);
  OrderedJson members = EventMembers(record.event);
  for (auto& [key, value] : members.items()) j[key] = std::move(value);
  j["prev"] = record.prev;
  return j.dump(-1, ' ', /*ensure_ascii=*/false, OrderedJson::error_handler_t::replace);
}

}  // namespace oracle

// For random records, with every kind of character a field may hold, every enum value, long
// fields that are cut and long lists: the direct writer gives the oracle's bytes, and the line
// parses to a record whose body is the same line.
TEST(RecordBodyProperty, IsByteForByteWhatTheEarlierWriterWroteForRandomRecords) {
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
                                           ":",
                                           "..."};
  const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random); };
  const auto text = [&](int max_pieces) {
    std::string out;
    for (int i = pick(max_pieces + 1); i > 0; --i)
      out += pieces[pick(static_cast<int>(pieces.size()))];
    return out;
  };
  // Items that are not empty (an empty one is left out on purpose: see below).
  const auto list = [&] {
    std::vector<std::string> out(pick(21));
    for (auto& item : out) item = "i" + text(pick(2) ? 8 : 120);
    return out;
  };
  for (int i = 0; i < 3000; ++i) {
    Record r;
    r.seq = std::uniform_int_distribution<std::uint64_t>(1, UINT64_MAX / 2)(random);
    r.time = WallTime(std::chrono::milliseconds(
        std::uniform_int_distribution<std::int64_t>(0, 4'000'000'000'000)(random)));
    r.agent = text(4);
    for (int k = 0; k < 64; ++k) r.prev += "0123456789abcdef"[pick(16)];
    r.event.type =
        static_cast<EventType>(pick(static_cast<int>(EventType::kPasswordValidated) + 1));
    r.event.request_id = text(6);
    r.event.correlation_id = text(3);
    r.event.tenant = text(3);
    for (int k = pick(21); k > 0; --k)
      r.event.operations.push_back(static_cast<Operation>(pick(6)));
    r.event.target.requested = pick(4) == 0 ? "" : text(10);
    // Long enough, now and then, to be cut (kMaxFieldBytes; detail kMaxDetailBytes).
    r.event.target.dn = pick(5) == 0 ? text(700) : pick(3) == 0 ? "" : text(10);
    r.event.requester.kind = static_cast<RequesterKind>(pick(3));
    r.event.requester.id = pick(3) == 0 ? "" : text(4);
    r.event.requester.verified_by = pick(3) == 0 ? std::vector<std::string>() : list();
    r.event.decision = static_cast<Decision>(pick(5));
    r.event.reasons = list();
    r.event.directory = text(3);
    r.event.server = text(3);
    r.event.outcome = text(3);
    if (pick(2)) {
      r.event.duration = std::chrono::milliseconds(
          std::uniform_int_distribution<std::int64_t>(-5, 1'000'000)(random));
    }
    r.event.detail = text(pick(5) == 0 ? 2500 : 20);

    const std::string body = internal::RecordBody(r);
    ASSERT_EQ(body, oracle::RecordBody(r)) << "record " << i;
    const std::string line = internal::Seal(body, Secret(std::string(32, 'k')));
    auto again = ParseRecord(line);
    ASSERT_TRUE(again.ok()) << again.error().ToString() << "\n" << line;
    ASSERT_EQ(internal::RecordBody(*again), body) << "record " << i;
  }
}

// An empty list item would make a record that does not parse ("is not a non-empty string"), and
// an object of nothing but empty items one that parses but re-serialises without it (so verify
// would call it not canonical): both are left out, and the record is canonical.
TEST(RecordBodyProperty, EmptyListItemsAreLeftOutAndTheRecordStaysCanonical) {
  Record r;
  r.seq = 1;
  r.prev = std::string(internal::kZeroHash);
  r.event.type = EventType::kPolicyDecision;
  r.event.request_id = "req-1";
  r.event.requester.verified_by = {"", ""};
  r.event.reasons = {"", "rate_limited", ""};
  const std::string body = internal::RecordBody(r);
  EXPECT_EQ(body.find("requester"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("reasons":["rate_limited"])"), std::string::npos) << body;
  auto again = ParseRecord(internal::Seal(body, Secret(std::string(32, 'k'))));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(internal::RecordBody(*again), body);

  r.event.reasons = {""};
  EXPECT_EQ(internal::RecordBody(r).find("reasons"), std::string::npos);
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
