// wbcloud as a receiver: what it does with each frame an agent sends that docs/protocol.md
// section 2 refuses, over a real socket, through a scripted agent that sends exact bytes (not
// the channel, which shares wbcloud's assumptions). One row per rule: the `error` code, the
// close status, nothing acted on after the refusal, and a cloud that still serves the next
// connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>

#include "channel/identity.h"
#include "protocol/protocol.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/channel/scripted_agent.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kHello =
    R"({"type":"hello","v":1,"agent_id":"agent-1","version":"scripted","credits":1,"unacked_results":[]})";
// A valid result for a request wbcloud does not know: acknowledged whenever it is acted on,
// so its ack shows that a frame was acted on.
constexpr std::string_view kProbe =
    R"({"type":"result","v":1,"id":"00000000-0000-4000-8000-000000000001","outcome":"succeeded","completed_at":1800000000})";

enum class Kind { kText, kBinary, kRaw };

struct Row {
  const char* name;     // the rule, as a sentence
  const char* section;  // of docs/protocol.md
  bool after_hello;     // the frame follows a hello and its welcome
  Kind kind;
  std::string bytes;
  bool valid;           // a valid message (ParseMessage takes it): refused for its
                        // direction or its time, not its form
  const char* error;    // the `error` code before the close; "" for none
  std::uint16_t close;  // the close status
};

// For gtest's failure messages: the rule, not the bytes.
void PrintTo(const Row& row, std::ostream* os) {
  *os << "section " << row.section << ": " << row.name;
}

// `head` padded with spaces (JSON whitespace) to exactly `size` bytes.
std::string Padded(std::string_view head, std::size_t size) {
  std::string s(head);
  s.resize(size, ' ');
  return s;
}

const Row kRows[] = {
    // Only the frame's first bytes: the header alone says it is too large, and bytes the cloud
    // never reads would make its close a TCP reset that can overtake the close frame.
    {"ALargerMessageIsNotRead", "2", true, Kind::kRaw,
     MaskedFrame(1, Padded(kProbe, protocol::kMaxMessageBytes + 1)).substr(0, 32), false, "", 1009},
    {"TextThatIsNotUtf8ClosesWith1007", "2", true, Kind::kRaw,
     MaskedFrame(1, "{\"type\":\"\xff\xfe\"}"), false, "", 1007},
    {"ABinaryMessageIsRefusedWhateverItHolds", "2", true, Kind::kBinary, std::string(kProbe), true,
     "bad_message", 1003},
    {"ABinaryHelloIsRefused", "2", false, Kind::kBinary, std::string(kHello), true, "bad_message",
     1003},
    {"TextThatIsNotJsonIsABadMessage", "2", true, Kind::kText, "hello", false, "bad_message", 1008},
    {"AJsonArrayIsABadMessage", "2", true, Kind::kText, "[" + std::string(kProbe) + "]", false,
     "bad_message", 1008},
    {"TrailingTextIsABadMessage", "2", true, Kind::kText, std::string(kProbe) + " x", false,
     "bad_message", 1008},
    {"TwoObjectsInOneMessageAreABadMessage", "2", true, Kind::kText,
     std::string(kProbe) + std::string(kProbe), false, "bad_message", 1008},
    {"AnObjectWithoutTypeIsABadMessageEvenWithAnotherVersion", "2", true, Kind::kText,
     R"({"v":2,"credits":1})", false, "bad_message", 1008},
    {"AnotherVersionIsUnsupported", "2", true, Kind::kText,
     R"({"type":"credits","v":2,"credits":1})", false, "unsupported_version", 1002},
    {"AnotherVersionOfHelloIsUnsupported", "3", false, Kind::kText,
     R"({"type":"hello","v":2,"agent_id":"agent-1"})", false, "unsupported_version", 1002},
    {"AnUnknownTypeIsABadMessage", "2", true, Kind::kText, R"({"type":"bogus","v":1})", false,
     "bad_message", 1008},
    {"WelcomeFromAnAgentIsABadMessage", "2", true, Kind::kText,
     R"({"type":"welcome","v":1,"tenant":"t","server_time":1800000000})", true, "bad_message",
     1008},
    {"RequestFromAnAgentIsABadMessage", "2", true, Kind::kText,
     R"({"type":"request","v":1,"envelope":"a.b.c"})", true, "bad_message", 1008},
    {"ResultAckFromAnAgentIsABadMessage", "2", true, Kind::kText,
     R"({"type":"result_ack","v":1,"id":"00000000-0000-4000-8000-000000000001"})", true,
     "bad_message", 1008},
    {"KeysetFromAnAgentIsABadMessage", "2", true, Kind::kText,
     R"({"type":"keyset","v":1,"jwks_jws":"a.b.c"})", true, "bad_message", 1008},
    {"CertificateFromAnAgentIsABadMessage", "2", true, Kind::kText,
     R"({"type":"certificate","v":1,"certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})",
     true, "bad_message", 1008},
    {"AWelcomeBeforeHelloIsABadMessage", "2", false, Kind::kText,
     R"({"type":"welcome","v":1,"tenant":"t","server_time":1800000000})", true, "bad_message",
     1008},
    {"AMissingFieldIsABadMessage", "2", true, Kind::kText, R"({"type":"credits","v":1})", false,
     "bad_message", 1008},
    {"AnExtraFieldIsABadMessage", "2", true, Kind::kText,
     R"({"type":"credits","v":1,"credits":1,"extra":1})", false, "bad_message", 1008},
    {"AFieldOfTheWrongJsonTypeIsABadMessage", "2", true, Kind::kText,
     R"({"type":"credits","v":1,"credits":"1"})", false, "bad_message", 1008},
    {"CreditsAbove1024AreABadMessage", "2", true, Kind::kText,
     R"({"type":"credits","v":1,"credits":1025})", false, "bad_message", 1008},
    {"AHelloWithWrongFieldsIsABadMessage", "2", false, Kind::kText,
     R"({"type":"hello","v":1,"agent_id":"agent-1"})", false, "bad_message", 1008},
    {"ASecondHelloIsAProtocolViolation", "3", true, Kind::kText, std::string(kHello), true,
     "protocol_violation", 1008},
    {"AMessageBeforeHelloIsAProtocolViolation", "3", false, Kind::kText, std::string(kProbe), true,
     "protocol_violation", 1008},
    {"CreditsBeforeHelloAreAProtocolViolation", "3", false, Kind::kText,
     R"({"type":"credits","v":1,"credits":1})", true, "protocol_violation", 1008},
    {"AHelloNamingAnotherAgentIsAnUnknownAgent", "3", false, Kind::kText,
     R"({"type":"hello","v":1,"agent_id":"agent-2","version":"scripted","credits":1,"unacked_results":[]})",
     true, "unknown_agent", 1008},
};

class WbcloudFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WB_REQUIRE_SERVER(cloud_.Start());
    agent_ = TestOptions(cloud_, dir_.path() / "agent-1", "agent-1");
    ASSERT_TRUE(Enroll(cloud_, agent_).ok());
  }

  ScriptedAgentOptions ScriptedAs(const channel::Options& agent) const {
    const channel::StatePaths paths(agent.state_dir);
    return {.port = cloud_.port(),
            .ca_file = cloud_.ca_file(),
            .cert = paths.cert(),
            .key = paths.key()};
  }

  // A connection of agent-1 (agent_ unless given) that said hello and got its welcome (the
  // frame goes to `welcome_out` when given); null after a failure.
  std::unique_ptr<ScriptedAgent> Greeted(const channel::Options* agent = nullptr,
                                         std::string* welcome_out = nullptr) {
    auto scripted = std::make_unique<ScriptedAgent>(ScriptedAs(agent ? *agent : agent_));
    Status connected = scripted->Connect();
    EXPECT_TRUE(connected.ok()) << connected.ToString() << "\n" << cloud_.Log();
    if (!connected.ok()) return nullptr;
    EXPECT_TRUE(scripted->SendText(kHello).ok());
    auto welcome = scripted->Read();
    EXPECT_TRUE(welcome.ok()) << welcome.error().ToString() << "\n" << cloud_.Log();
    if (!welcome.ok()) return nullptr;
    EXPECT_EQ(protocol::MessageTypeOf(*welcome), "welcome") << *welcome;
    if (welcome_out != nullptr) *welcome_out = *welcome;
    return scripted;
  }

  TempDir dir_{"wbframes"};
  CloudServer cloud_{dir_.path() / "cloud"};
  channel::Options agent_;
};

// The `error` code of each message in `messages` (the type when it is not an error).
std::vector<std::string> ErrorCodes(const std::vector<std::string>& messages) {
  std::vector<std::string> codes;
  for (const auto& m : messages) {
    auto parsed = protocol::ParseMessage(m);
    auto* error = parsed.ok() ? std::get_if<protocol::ErrorMessage>(&*parsed) : nullptr;
    codes.push_back(error != nullptr ? error->code : "not an error: " + m);
  }
  return codes;
}

class RefusedFrameTest : public WbcloudFramesTest, public ::testing::WithParamInterface<Row> {
 protected:
  Status SendTheFrame(ScriptedAgent& scripted, const Row& row) {
    switch (row.kind) {
      case Kind::kText:
        return scripted.SendText(row.bytes);
      case Kind::kBinary:
        return scripted.SendBinary(row.bytes);
      case Kind::kRaw:
        return scripted.SendRaw(row.bytes);
    }
    return Internal("unknown kind");
  }
};

TEST_P(RefusedFrameTest, IsAnsweredAsSection2Says) {
  const Row& row = GetParam();
  SCOPED_TRACE(std::string("docs/protocol.md section ") + row.section + ": " + row.name);
  if (row.valid) {
    // Refused for its direction or its time, not for its form.
    ASSERT_TRUE(protocol::ParseMessage(row.bytes).ok()) << row.bytes;
  }
  std::unique_ptr<ScriptedAgent> scripted;
  if (row.after_hello) {
    scripted = Greeted();
    ASSERT_NE(scripted, nullptr);
  } else {
    scripted = std::make_unique<ScriptedAgent>(ScriptedAs(agent_));
    ASSERT_TRUE(scripted->Connect().ok()) << cloud_.Log();
  }
  ASSERT_TRUE(SendTheFrame(*scripted, row).ok());
  // Acted on, it would be acknowledged. The cloud may already have closed: that can fail. Not
  // after a frame the WebSocket layer refuses (no error code): that layer delivers nothing, and
  // a probe it never reads would turn its close into a TCP reset.
  if (*row.error != '\0') (void)scripted->SendText(kProbe);
  CloudClose closed = scripted->ReadUntilClosed();
  if (*row.error == '\0') {
    EXPECT_THAT(closed.messages, IsEmpty());
  } else {
    EXPECT_THAT(ErrorCodes(closed.messages), ElementsAre(row.error)) << cloud_.Log();
  }
  ASSERT_TRUE(closed.code.has_value()) << closed.end.ToString() << "\n" << cloud_.Log();
  EXPECT_EQ(*closed.code, row.close) << closed.reason;
  // The cloud serves the next connection.
  EXPECT_NE(Greeted(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Rules, RefusedFrameTest, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& param) {
                           return std::string(param.param.name);
                         });

// Section 2: "at most 65536 bytes" includes 65536.
TEST_F(WbcloudFramesTest, AMessageOfExactly65536BytesIsRead) {
  auto scripted = Greeted();
  ASSERT_NE(scripted, nullptr);
  ASSERT_TRUE(scripted->SendText(Padded(kProbe, protocol::kMaxMessageBytes)).ok());
  auto ack = scripted->Read();
  ASSERT_TRUE(ack.ok()) << ack.error().ToString() << "\n" << cloud_.Log();
  EXPECT_EQ(protocol::MessageTypeOf(*ack), "result_ack");
}

// Section 4: an `error` from the agent is logged, and a result for a request the cloud does not
// know is acknowledged (so the agent stops re-sending it): neither is a frame error.
TEST_F(WbcloudFramesTest, AnErrorFromTheAgentAndAnUnknownResultKeepTheConnection) {
  auto scripted = Greeted();
  ASSERT_NE(scripted, nullptr);
  ASSERT_TRUE(
      scripted->SendText(R"({"type":"error","v":1,"code":"internal","message":"oops"})").ok());
  ASSERT_TRUE(scripted->SendText(kProbe).ok());
  auto ack = scripted->Read();
  ASSERT_TRUE(ack.ok()) << ack.error().ToString() << "\n" << cloud_.Log();
  EXPECT_EQ(protocol::MessageTypeOf(*ack), "result_ack");
  EXPECT_THAT(cloud_.Log(), HasSubstr("reports an error: internal: oops"));
}

// Section 2: a certificate that is no longer an enrolled agent's is refused at the upgrade.
TEST_F(WbcloudFramesTest, AReplacedCertificateIsRefusedAtTheUpgrade) {
  const channel::Options again = TestOptions(cloud_, dir_.path() / "again", "agent-1");
  ASSERT_TRUE(Enroll(cloud_, again).ok());
  ScriptedAgent scripted(ScriptedAs(agent_));
  EXPECT_FALSE(scripted.Connect().ok());
  EXPECT_EQ(scripted.upgrade_status(), 403u);
  EXPECT_NE(Greeted(&again), nullptr) << "the new certificate";
}

// Section 3: the agent must still be enrolled when it says hello, not only at the upgrade.
TEST_F(WbcloudFramesTest, ACertificateReplacedBeforeHelloIsAnUnknownAgent) {
  ScriptedAgent scripted(ScriptedAs(agent_));
  ASSERT_TRUE(scripted.Connect().ok()) << cloud_.Log();
  const channel::Options again = TestOptions(cloud_, dir_.path() / "again", "agent-1");
  ASSERT_TRUE(Enroll(cloud_, again).ok());
  ASSERT_TRUE(scripted.SendText(kHello).ok());
  CloudClose closed = scripted.ReadUntilClosed();
  EXPECT_THAT(ErrorCodes(closed.messages), ElementsAre("unknown_agent"));
  ASSERT_TRUE(closed.code.has_value()) << closed.end.ToString();
  EXPECT_EQ(*closed.code, 1008);
}

// The witness (docs/protocol.md section 4, audit_head): what the cloud hands back in welcome
// after the heads an agent sent.
class WitnessTest : public WbcloudFramesTest {
 protected:
  static protocol::AuditHead Head(std::uint64_t seq, char fill) {
    return {.seq = seq, .hash = std::string(64, fill), .hmac = std::string(64, 'f')};
  }

  // A fresh connection of `agent` (agent_ unless given): its welcome's audit_head. The
  // connection stays open (live_) for Send.
  std::optional<protocol::AuditHead> WelcomeHead(const channel::Options* agent = nullptr) {
    live_ = Greeted(agent, &welcome_);
    EXPECT_NE(live_, nullptr);
    auto parsed = protocol::ParseMessage(welcome_);
    EXPECT_TRUE(parsed.ok() && std::holds_alternative<protocol::Welcome>(*parsed)) << welcome_;
    if (!parsed.ok() || !std::holds_alternative<protocol::Welcome>(*parsed)) return std::nullopt;
    return std::get<protocol::Welcome>(*parsed).audit_head;
  }

  // Sends `head` on the open connection and waits until the cloud has acted on it.
  void Send(const protocol::AuditHead& head) {
    ASSERT_TRUE(live_->SendText(protocol::Serialize(protocol::AuditHeadMessage{head})).ok());
    ASSERT_TRUE(live_->SendText(kProbe).ok());
    ASSERT_TRUE(live_->Read().ok()) << cloud_.Log();
  }

  std::unique_ptr<ScriptedAgent> live_;
  std::string welcome_;
};

TEST_F(WitnessTest, KeepsTheHighestHeadAndHandsItBackInWelcome) {
  EXPECT_EQ(WelcomeHead(), std::nullopt) << "nothing witnessed yet";
  Send(Head(5, 'a'));
  EXPECT_EQ(WelcomeHead(), Head(5, 'a'));
  Send(Head(9, 'b'));
  EXPECT_EQ(WelcomeHead(), Head(9, 'b'));
  EXPECT_THAT(cloud_.Log(), HasSubstr("audit head 9:" + std::string(64, 'b')));
}

TEST_F(WitnessTest, AHeadThatWentBackIsLoggedAndNeverLowersTheWitness) {
  WelcomeHead();
  Send(Head(9, 'b'));
  Send(Head(4, 'c'));
  EXPECT_EQ(WelcomeHead(), Head(9, 'b'));
  EXPECT_THAT(cloud_.Log(), HasSubstr("behind the witnessed seq 9"));
  // The same seq with another hash: a rewritten trail; the first stays.
  Send(Head(9, 'd'));
  EXPECT_EQ(WelcomeHead(), Head(9, 'b'));
  EXPECT_THAT(cloud_.Log(), HasSubstr("with another hash than the witnessed one"));
}

TEST_F(WitnessTest, HelloCannotCarryAHead) {
  // A hello is sent before the agent has checked its trail against the witness: a head in it
  // could raise the witness past a rolled-back trail. Version 1 has no such member.
  ScriptedAgent scripted(ScriptedAs(agent_));
  ASSERT_TRUE(scripted.Connect().ok()) << cloud_.Log();
  const std::string head = protocol::Serialize(protocol::AuditHeadMessage{Head(12, 'e')});
  std::string hello(kHello);
  hello.pop_back();
  hello += R"(,"audit_head":{)" + head.substr(head.find("\"seq\"")) + "}";
  ASSERT_TRUE(scripted.SendText(hello).ok());
  CloudClose closed = scripted.ReadUntilClosed();
  EXPECT_THAT(ErrorCodes(closed.messages), ElementsAre("bad_message"));
  EXPECT_EQ(WelcomeHead(), std::nullopt);
}

TEST_F(WitnessTest, EnrollingAgainStartsAFreshWitness) {
  WelcomeHead();
  Send(Head(9, 'b'));
  live_.reset();
  const channel::Options again = TestOptions(cloud_, dir_.path() / "again", "agent-1");
  ASSERT_TRUE(Enroll(cloud_, again).ok());
  EXPECT_EQ(WelcomeHead(&again), std::nullopt);
}

}  // namespace
}  // namespace wb::testing
