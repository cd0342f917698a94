// Channel messages: round trips and strict refusal.
#include <gtest/gtest.h>

#include "protocol/protocol.h"

namespace wb::protocol {
namespace {

constexpr char kId[] = "0f8e5b0a-8c1e-4c57-9d0e-4b3f6a2c1d9e";

template <typename T>
T RoundTrip(const T& m) {
  const std::string text = Serialize(m);
  auto parsed = ParseMessage(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error().ToString();
  if (!parsed.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*parsed)) << text;
  EXPECT_EQ(Serialize(*parsed), text);  // the variant overload gives the same bytes
  return std::holds_alternative<T>(*parsed) ? std::get<T>(*parsed) : T{};
}

WallTime At(int64_t s) { return WallTime(std::chrono::seconds(s)); }

TEST(Messages, HelloRoundTrip) {
  const Hello h = RoundTrip(Hello{"agent-paris-1", "0.1.0", 8, {kId}});
  EXPECT_EQ(h.agent_id, "agent-paris-1");
  EXPECT_EQ(h.version, "0.1.0");
  EXPECT_EQ(h.credits, 8);
  EXPECT_EQ(h.unacked_results, std::vector<std::string>{kId});
  EXPECT_EQ(
      Serialize(Hello{"a", "1", 0, {}}),
      R"({"type":"hello","v":1,"agent_id":"a","version":"1","credits":0,"unacked_results":[]})");
}

TEST(Messages, EveryOtherTypeRoundTrips) {
  EXPECT_EQ(RoundTrip(Welcome{"tenant-contoso", At(1800000000)}).server_time, At(1800000000));
  EXPECT_EQ(RoundTrip(Request{"a.b.c"}).envelope, "a.b.c");
  EXPECT_EQ(RoundTrip(Accepted{kId}).id, kId);
  const Rejected rj = RoundTrip(Rejected{kId, RejectCode::kReplayed, "seen before"});
  EXPECT_EQ(rj.code, RejectCode::kReplayed);
  EXPECT_EQ(rj.reason, "seen before");
  EXPECT_TRUE(RoundTrip(Rejected{"", RejectCode::kMalformed, "bad"}).id.empty());
  const ResultMessage r =
      RoundTrip(ResultMessage{kId, "succeeded", "", "history not enforced", At(1800000100)});
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.note, "history not enforced");
  EXPECT_EQ(r.completed_at, At(1800000100));
  EXPECT_EQ(RoundTrip(ResultAck{kId}).id, kId);
  EXPECT_EQ(RoundTrip(Credits{4}).credits, 4);
  EXPECT_EQ(RoundTrip(KeySet{"a.b.c"}).jwks_jws, "a.b.c");
  EXPECT_EQ(RoundTrip(Renew{"-----BEGIN CERTIFICATE REQUEST-----\nMII=\n"}).csr,
            "-----BEGIN CERTIFICATE REQUEST-----\nMII=\n");
  EXPECT_EQ(RoundTrip(Certificate{"-----BEGIN CERTIFICATE-----\n"}).certificate,
            "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(RoundTrip(ErrorMessage{"unsupported_version", "speak v1"}).code, "unsupported_version");
}

PolicySummary TwoDirectories() {
  PasswordRulesSummary self{.min_length = 12,
                            .max_length = 64,
                            .min_classes = 3,
                            .forbidden_characters = "<>é",
                            .max_repeated = 3,
                            .not_same_as_old = true,
                            .no_name_parts = true,
                            .banned_words = true,
                            .breached = false,
                            .enforced = false};
  PasswordRulesSummary admin;  // no rule of the agent's own
  return PolicySummary{
      {DirectorySummary{.name = "corp",
                        .upn_suffixes = {"corp.example", "eu.corp.example"},
                        .directory = DirectoryRulesSummary{.min_length = 7,
                                                           .max_length = 0,
                                                           .complexity = true,
                                                           .history_length = 24,
                                                           .min_age = std::chrono::seconds(86400)},
                        .self = self,
                        .admin = admin},
       DirectorySummary{.name = "lab",
                        .upn_suffixes = {},
                        .directory = std::nullopt,
                        .self = admin,
                        .admin = admin}}};
}

TEST(Messages, PolicySummaryRoundTripsWithAnUnreadDirectoryOmitted) {
  const PolicySummary sent = TwoDirectories();
  const PolicySummary got = RoundTrip(sent);
  EXPECT_EQ(got, sent);
  ASSERT_EQ(got.directories.size(), 2u);
  EXPECT_FALSE(got.directories[1].directory.has_value());
  EXPECT_EQ(Serialize(sent).find("\"directory\":", Serialize(sent).find("\"lab\"")),
            std::string::npos);
}

TEST(Messages, PolicySummaryIsStrict) {
  std::string good = Serialize(TwoDirectories());
  ASSERT_TRUE(ParseMessage(good).ok());
  auto refused = [](std::string text) {
    auto r = ParseMessage(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.error().message();
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  EXPECT_NE(refused(replaced("\"min_classes\":3", "\"min_classes\":6")).find("min_classes"),
            std::string::npos);
  refused(replaced("\"complexity\":true", "\"complexity\":1"));
  refused(replaced("\"enforced\":false", "\"enforced\":false,\"x\":1"));
  refused(replaced("\"history_length\":24", "\"history_length\":-1"));
  refused(replaced("\"name\":\"lab\"", "\"name\":\"corp\""));  // twice
  refused(replaced("\"name\":\"lab\"", "\"name\":\"\""));
  refused(replaced("\"forbidden_characters\":\"<>é\"", "\"forbidden_characters\":\"\\t\""));
  refused(R"({"type":"policy_summary","v":1,"directories":[]})");
  refused(R"({"type":"policy_summary","v":1})");
  // self and admin are required; directory is not.
  std::string text = good;
  const auto admin = text.rfind(",\"admin\":");
  refused(text.substr(0, admin) + "}]}");
}

const AuditHead kHead{42, std::string(64, 'a'), std::string(64, 'b')};

TEST(Messages, AuditHeadIsOptionalInWelcomeAndAMessageOfItsOwn) {
  Welcome welcome{"tenant-contoso", At(1800000000)};
  EXPECT_EQ(RoundTrip(welcome).audit_head, std::nullopt);
  welcome.audit_head = kHead;
  EXPECT_EQ(RoundTrip(welcome).audit_head, kHead);
  EXPECT_EQ(
      Serialize(Welcome{"t", At(1), AuditHead{7, std::string(64, 'c'), std::string(64, 'd')}}),
      R"({"type":"welcome","v":1,"tenant":"t","server_time":1,"audit_head":{"seq":7,"hash":")" +
          std::string(64, 'c') + R"(","hmac":")" + std::string(64, 'd') + R"("}})");
  EXPECT_EQ(RoundTrip(AuditHeadMessage{kHead}).head, kHead);
  EXPECT_EQ(Serialize(AuditHeadMessage{AuditHead{0, std::string(64, '0'), std::string(64, 'e')}}),
            R"({"type":"audit_head","v":1,"seq":0,"hash":")" + std::string(64, '0') +
                R"(","hmac":")" + std::string(64, 'e') + R"("})");
  EXPECT_EQ(RoundTrip(AuditHeadMessage{AuditHead{kMaxAuditSeq, kHead.hash, kHead.hmac}}).head.seq,
            kMaxAuditSeq);
}

TEST(Messages, RefusesAMalformedAuditHead) {
  const std::string a(64, 'a');
  const std::string head_fields = R"("hash":")" + a + R"(","hmac":")" + a + R"(")";
  for (
      const std::string& text : std::vector<std::string>{
          R"({"type":"audit_head","v":1,"seq":-1,)" + head_fields + "}",
          R"({"type":"audit_head","v":1,"seq":9007199254740992,)" + head_fields + "}",
          R"({"type":"audit_head","v":1,"seq":"1",)" + head_fields + "}",
          R"({"type":"audit_head","v":1,"seq":1,"hash":")" + a + R"("})",
          R"({"type":"audit_head","v":1,"seq":1,"hash":")" + std::string(64, 'A') +
              R"(","hmac":")" + a + R"("})",
          R"({"type":"audit_head","v":1,"seq":1,"hash":")" + a.substr(1) + R"(","hmac":")" + a +
              R"("})",
          R"({"type":"audit_head","v":1,"seq":1,)" + head_fields + R"(,"x":1})",
          R"({"type":"welcome","v":1,"tenant":"t","server_time":1,"audit_head":null})",
          R"({"type":"welcome","v":1,"tenant":"t","server_time":1,"audit_head":{"seq":1}})",
          R"({"type":"welcome","v":1,"tenant":"t","server_time":1,"audit_head":{"seq":1,)" +
              head_fields + R"(,"at":1}})",
          // hello never carries one: the agent has not checked its trail against the witness yet
          R"({"type":"hello","v":1,"agent_id":"a","version":"1","credits":1,"unacked_results":[],"audit_head":{"seq":1,)" +
              head_fields + "}}",
      }) {
    auto r = ParseMessage(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << text;
    }
  }
}

TEST(Messages, RequestDeliveryIsOneWhenAbsentAndOmittedWhenOne) {
  auto first = ParseMessage(R"({"type":"request","v":1,"envelope":"a.b.c"})");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(std::get<Request>(*first).delivery, 1);
  EXPECT_EQ(Serialize(Request{"a.b.c"}), R"({"type":"request","v":1,"envelope":"a.b.c"})");
  EXPECT_EQ(Serialize(Request{"a.b.c", 3}),
            R"({"type":"request","v":1,"envelope":"a.b.c","delivery":3})");
  EXPECT_EQ(RoundTrip(Request{"a.b.c", 3}).delivery, 3);
  EXPECT_EQ(RoundTrip(Request{"a.b.c", kMaxDelivery}).delivery, kMaxDelivery);
}

TEST(Messages, RefusesAnUnknownField) {
  auto r = ParseMessage(
      R"({"type":"accepted","v":1,"id":"0f8e5b0a-8c1e-4c57-9d0e-4b3f6a2c1d9e","x":1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("unknown field \"x\""), std::string::npos);
}

TEST(Messages, RefusesAMissingField) {
  EXPECT_FALSE(ParseMessage(R"({"type":"accepted","v":1})").ok());
  EXPECT_FALSE(ParseMessage(R"({"type":"hello","v":1,"agent_id":"a","version":"1"})").ok());
  EXPECT_FALSE(ParseMessage(R"({"v":1,"id":"0f8e5b0a-8c1e-4c57-9d0e-4b3f6a2c1d9e"})").ok());
}

TEST(Messages, RefusesWrongTypesAndBounds) {
  for (
      const char* text : {
          R"({"type":"credits","v":1,"credits":"4"})",
          R"({"type":"credits","v":1,"credits":4.0})",
          R"({"type":"credits","v":1,"credits":-1})",
          R"({"type":"credits","v":1,"credits":1025})",
          R"({"type":"credits","v":1,"credits":18446744073709551615})",
          R"({"type":"request","v":1,"envelope":"a.b.c","delivery":0})",
          R"({"type":"request","v":1,"envelope":"a.b.c","delivery":1001})",
          R"({"type":"request","v":1,"envelope":"a.b.c","delivery":"2"})",
          R"({"type":"request","v":1,"envelope":"a.b.c","delivery":null})",
          R"({"type":"accepted","v":1,"id":"0F8E5B0A-8C1E-4C57-9D0E-4B3F6A2C1D9E"})",
          R"({"type":"accepted","v":1,"id":"x"})",
          R"({"type":"rejected","v":1,"code":"nope","reason":""})",
          R"({"type":"welcome","v":1,"tenant":"t","server_time":"now"})",
          R"({"type":"result","v":1,"id":"0f8e5b0a-8c1e-4c57-9d0e-4b3f6a2c1d9e","outcome":"Succeeded","completed_at":1})",
          R"({"type":"error","v":1,"code":"x","message":"line\nbreak"})",
          R"({"type":"keyset","v":1,"jwks_jws":"not compact!"})",
          R"({"type":"hello","v":"1","agent_id":"a","version":"1","credits":1,"unacked_results":[]})",
      }) {
    auto r = ParseMessage(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << text;
    }
  }
}

TEST(Messages, RefusesDuplicateKeys) {
  auto r = ParseMessage(R"({"type":"credits","v":1,"credits":4,"credits":1000})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("duplicate"), std::string::npos);
}

TEST(Messages, RefusesAnUnknownType) {
  auto r = ParseMessage(R"({"type":"shell","v":1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST(Messages, RefusesNonObjectsAndBadJson) {
  for (const char* text : {"", "[]", "42", "{", R"({"type":"credits","v":1,"credits":4} x)",
                           "{\"type\":\"credits\",\"v\":1,\"credits\":4,\"s\":\"\xff\"}"}) {
    EXPECT_FALSE(ParseMessage(text).ok()) << text;
  }
}

TEST(Messages, AnotherVersionIsAFailedPrecondition) {
  auto r = ParseMessage(R"({"type":"hello","v":2})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
}

TEST(Messages, OversizedIsResourceExhaustedAndTooLarge) {
  std::string text =
      R"({"type":"request","v":1,"envelope":")" + std::string(kMaxMessageBytes, 'a') + "\"}";
  auto r = ParseMessage(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(RejectCodeForParseError(r.error()), RejectCode::kTooLarge);
  EXPECT_EQ(MessageTypeOf(R"({"type":"request","v":1})"), "request");
  EXPECT_EQ(RejectCodeForParseError(ParseMessage("{").error()), RejectCode::kMalformed);
}

TEST(Messages, RefusesDeepNesting) {
  std::string deep = R"({"type":"credits","v":1,"credits":4,"x":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  auto r = ParseMessage(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nested"), std::string::npos);
}

TEST(Messages, MessageTypeOfIsBestEffort) {
  EXPECT_EQ(MessageTypeOf("garbage"), "");
  EXPECT_EQ(MessageTypeOf(R"({"type":7})"), "");
  EXPECT_EQ(MessageTypeOf(R"({"type":"Request"})"), "");
  EXPECT_EQ(MessageTypeOf(R"({"type":"result_ack","id":1})"), "result_ack");
}

TEST(Messages, RejectCodesHaveStableNames) {
  for (auto [code, name] : std::vector<std::pair<RejectCode, std::string_view>>{
           {RejectCode::kBadSignature, "bad_signature"},
           {RejectCode::kUnknownKid, "unknown_kid"},
           {RejectCode::kBadAlgorithm, "bad_algorithm"},
           {RejectCode::kExpired, "expired"},
           {RejectCode::kNotYetValid, "not_yet_valid"},
           {RejectCode::kReplayed, "replayed"},
           {RejectCode::kTooLarge, "too_large"},
           {RejectCode::kMalformed, "malformed"},
           {RejectCode::kWrongTenant, "wrong_tenant"},
           {RejectCode::kWrongAudience, "wrong_audience"},
           {RejectCode::kDecryptFailed, "decrypt_failed"},
           {RejectCode::kQueueFull, "queue_full"},
           {RejectCode::kUnavailable, "unavailable"}}) {
    EXPECT_EQ(RejectCodeName(code), name);
    EXPECT_EQ(ParseRejectCode(name), code);
  }
  EXPECT_FALSE(ParseRejectCode("Expired").has_value());
}

TEST(Enrollment, RequestAndResponseRoundTrip) {
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const EnrollRequest req{"tok-123", "agent-paris-1", "-----BEGIN CERTIFICATE REQUEST-----\n",
                          key->PublicJwk("enc", "ECDH-ES")};
  auto parsed = ParseEnrollRequest(Serialize(req));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->token, "tok-123");
  EXPECT_EQ(parsed->encryption_jwk.kid, req.encryption_jwk.kid);
  EXPECT_EQ(parsed->encryption_jwk.x, req.encryption_jwk.x);

  const EnrollResponse resp{"tenant-contoso", "-----BEGIN CERTIFICATE-----\n",
                            Jwks{{key->PublicJwk("sig", "ES256")}}, "wss://cloud.example/agent"};
  auto back = ParseEnrollResponse(Serialize(resp));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->cloud_keys.keys.size(), 1u);
  EXPECT_EQ(back->agent_url, "wss://cloud.example/agent");
}

TEST(Enrollment, RefusesASigningKeyAsEncryptionKeyAndPlainHttp) {
  auto key = EcPrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(
      ParseEnrollRequest(Serialize(EnrollRequest{"t", "a", "csr", key->PublicJwk("sig", "ES256")}))
          .ok());
  EXPECT_FALSE(ParseEnrollResponse(Serialize(EnrollResponse{"t", "c", Jwks{{key->PublicJwk()}},
                                                            "ws://cloud/agent"}))
                   .ok());
}

}  // namespace
}  // namespace wb::protocol
