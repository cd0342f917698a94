// OpenRequest / SealRequest: the round trip, and every rejection under its own name.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <vector>

#include "common/clock.h"
#include "protocol/base64url.h"
#include "protocol/jwe.h"
#include "protocol/protocol.h"
#include "tests/protocol/protocol_test_util.h"
#include "tests/support/fake_clock.h"

namespace wb::protocol {
namespace {

using namespace fixtures;  // NOLINT: test vocabulary
using std::chrono::minutes;
using std::chrono::seconds;

// Counts Remember calls and can fail them.
class CountingGuard final : public ReplayGuard {
 public:
  explicit CountingGuard(const Clock& clock) : inner_(NewInMemoryReplayGuard(clock)) {}
  Result<Verdict> Remember(std::string_view id, std::string_view nonce, WallTime until) override {
    ++calls;
    if (fail) return IoError("disk on fire");
    return inner_->Remember(id, nonce, until);
  }
  int calls = 0;
  bool fail = false;

 private:
  std::unique_ptr<ReplayGuard> inner_;
};

std::vector<std::string> SplitDots(std::string_view s) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = s.find('.', start);
    parts.emplace_back(s.substr(start, dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

std::string JoinDots(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest() : keys_(MakeKeys()), guard_(clock_) { claims_ = ResetClaims(clock_.Now()); }

  Result<VerifiedRequest, Rejection> Open(std::string_view envelope) {
    return OpenRequest(envelope, keys_.trusted, keys_.agent, Options(), clock_, guard_);
  }

  std::string Seal(const RequestClaims& claims, const Passwords* passwords) {
    auto sealed = SealRequest(claims, passwords, keys_.cloud, kCloudKid, keys_.agent_jwk);
    EXPECT_TRUE(sealed.ok()) << sealed.error().ToString();
    return sealed.ok() ? *sealed : "";
  }
  std::string SealReset() {
    const Passwords pw = MakePasswords(kNewPassword);
    return Seal(claims_, &pw);
  }
  // Signs a claims document as the trusted cloud key would.
  std::string SignClaims(const Json& claims) {
    return SignRaw(RequestHeader(), claims.dump(), keys_.cloud);
  }
  // The JWE of a fresh reset envelope, as five parts.
  std::vector<std::string> JweParts() { return SplitDots(SecretOf(SealReset())); }
  std::string WithSecret(const std::string& secret) {
    return SignClaims(ClaimsJson(claims_, secret));
  }

  static void ExpectRejected(const Result<VerifiedRequest, Rejection>& r, RejectCode code) {
    ASSERT_FALSE(r.ok()) << "expected " << RejectCodeName(code);
    EXPECT_EQ(RejectCodeName(r.error().code), RejectCodeName(code)) << r.error().reason;
    EXPECT_FALSE(r.error().reason.empty());
    EXPECT_EQ(r.error().reason.find(kNewPassword), std::string::npos) << r.error().reason;
    EXPECT_EQ(r.error().reason.find(kOldPassword), std::string::npos) << r.error().reason;
  }

  wb::testing::FakeClock clock_;
  TestKeys keys_;
  CountingGuard guard_;
  RequestClaims claims_;
};

// --- Round trips --------------------------------------------------------------------------

TEST_F(EnvelopeTest, ResetRoundTrip) {
  auto r = Open(SealReset());
  ASSERT_TRUE(r.ok()) << r.error().reason;
  const RequestClaims& c = r->claims;
  EXPECT_EQ(c.id, claims_.id);
  EXPECT_EQ(c.tenant, kTenant);
  EXPECT_EQ(c.audience, kAgentId);
  EXPECT_EQ(c.issued_at, claims_.issued_at);
  EXPECT_EQ(c.expires_at, claims_.expires_at);
  EXPECT_FALSE(c.not_before.has_value());
  EXPECT_EQ(c.nonce, claims_.nonce);
  EXPECT_EQ(c.operations, claims_.operations);
  EXPECT_EQ(c.target.kind, TargetKind::kUserPrincipalName);
  EXPECT_EQ(c.target.value, "alice@contoso.example");
  EXPECT_EQ(c.requester.type, RequesterType::kSelf);
  EXPECT_EQ(c.requester.verified_by, (std::vector<std::string>{"email_otp", "totp"}));
  EXPECT_EQ(c.correlation_id, "corr-123");
  EXPECT_EQ(r->passwords.new_password.view(), kNewPassword);
  EXPECT_TRUE(r->passwords.old_password.empty());
  EXPECT_EQ(r->signed_by, kCloudKid);
  EXPECT_FALSE(r->redelivered);
  EXPECT_EQ(guard_.calls, 1);
}

TEST_F(EnvelopeTest, ChangeRoundTripCarriesTheOldPassword) {
  claims_.operations = {Operation::kChange};
  claims_.requester = {RequesterType::kSelf, "alice", {"password"}};
  claims_.not_before = claims_.issued_at + seconds(5);
  const Passwords pw = MakePasswords(kNewPassword, kOldPassword);
  auto r = Open(Seal(claims_, &pw));
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->passwords.new_password.view(), kNewPassword);
  EXPECT_EQ(r->passwords.old_password.view(), kOldPassword);
  EXPECT_EQ(r->claims.not_before, claims_.not_before);
}

TEST_F(EnvelopeTest, UnlockRoundTripCarriesNoSecret) {
  claims_.operations = {Operation::kUnlock, Operation::kRequireChange};
  claims_.target = {TargetKind::kDn, "CN=Alice Smith,OU=Staff,DC=contoso,DC=example"};
  claims_.requester = {RequesterType::kAdmin, "helpdesk-7", {}};
  const std::string envelope = Seal(claims_, nullptr);
  EXPECT_TRUE(SecretOf(envelope).empty());
  auto r = Open(envelope);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_TRUE(r->passwords.new_password.empty());
  EXPECT_EQ(r->claims.target.value, claims_.target.value);
  EXPECT_EQ(r->claims.requester.type, RequesterType::kAdmin);
}

TEST_F(EnvelopeTest, PasswordWithJsonSpecialCharactersRoundTrips) {
  const std::string tricky = "q\"uo\\te/\n\t\x01 caf\xc3\xa9 \xf0\x9f\x98\x80 }";
  const Passwords pw = MakePasswords(tricky);
  auto r = Open(Seal(claims_, &pw));
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->passwords.new_password.view(), tricky);
}

TEST_F(EnvelopeTest, ThePasswordIsNotInTheSignedPayload) {
  const std::string envelope = SealReset();
  auto payload = Base64UrlDecode(SplitDots(envelope)[1]);
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(payload->find(kNewPassword), std::string::npos);
  EXPECT_EQ(envelope.find(Base64UrlEncode(kNewPassword).substr(0, 12)), std::string::npos);
}

TEST_F(EnvelopeTest, RedeliveryOfTheSameEnvelopeIsFlaggedNotRejected) {
  const std::string envelope = SealReset();
  ASSERT_TRUE(Open(envelope).ok());
  auto again = Open(envelope);
  ASSERT_TRUE(again.ok()) << again.error().reason;
  EXPECT_TRUE(again->redelivered);
}

// --- Signature and algorithm --------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsForgedSignature) {
  auto forger = EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  // The forger claims the trusted kid but signs with its own key.
  ExpectRejected(Open(SignRaw(RequestHeader(), ClaimsJson(claims_).dump(), *forger)),
                 RejectCode::kBadSignature);
}

TEST_F(EnvelopeTest, RejectsAlteredSignedPayload) {
  std::vector<std::string> parts = SplitDots(SealReset());
  Json claims = Json::parse(*Base64UrlDecode(parts[1]));
  claims["target"]["value"] = "administrator@contoso.example";
  parts[1] = Base64UrlEncode(claims.dump());
  ExpectRejected(Open(JoinDots(parts)), RejectCode::kBadSignature);
}

TEST_F(EnvelopeTest, RejectsUnknownKid) {
  ExpectRejected(
      Open(SignRaw(RequestHeader("cloud-2031-09"), ClaimsJson(claims_).dump(), keys_.cloud)),
      RejectCode::kUnknownKid);
}

TEST_F(EnvelopeTest, RejectsAlgNone) {
  const std::string header = R"({"alg":"none","kid":"cloud-2027-01","typ":"wbagent-request+jwt"})";
  const std::string unsecured =
      Base64UrlEncode(header) + "." + Base64UrlEncode(ClaimsJson(claims_).dump()) + ".";
  ExpectRejected(Open(unsecured), RejectCode::kBadAlgorithm);
  EXPECT_EQ(guard_.calls, 0);
}

// The classic confusion: a verifier that lets the token pick the algorithm would check an
// HS256 token with the (public!) verification key as the HMAC secret.
TEST_F(EnvelopeTest, RejectsHs256WithThePublicKeyAsHmacSecret) {
  const std::string header = R"({"alg":"HS256","kid":"cloud-2027-01","typ":"wbagent-request+jwt"})";
  const std::string input =
      Base64UrlEncode(header) + "." + Base64UrlEncode(ClaimsJson(claims_).dump());
  for (const std::string& secret :
       {SerializeJwk(keys_.trusted.keys[0]), SerializeJwks(keys_.trusted)}) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t mac_len = 0;
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                        reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                        sizeof mac, &mac_len),
              nullptr);
    const std::string token =
        input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), mac_len));
    ExpectRejected(Open(token), RejectCode::kBadAlgorithm);
  }
  EXPECT_EQ(guard_.calls, 0);
}

TEST_F(EnvelopeTest, RejectsOtherAlgorithms) {
  for (const char* alg : {"RS256", "ES384", "PS256", "es256", "ES256 ", "EdDSA"}) {
    const std::string header = std::string(R"({"alg":")") + alg +
                               R"(","kid":"cloud-2027-01","typ":"wbagent-request+jwt"})";
    ExpectRejected(Open(SignRaw(header, ClaimsJson(claims_).dump(), keys_.cloud)),
                   RejectCode::kBadAlgorithm);
  }
}

TEST_F(EnvelopeTest, RefusesAnEmbeddedJwkHeader) {
  auto attacker = EcPrivateKey::Generate();
  ASSERT_TRUE(attacker.ok());
  const Jwk jwk = attacker->PublicJwk();
  const std::string header = R"({"alg":"ES256","kid":")" + jwk.kid +
                             R"(","typ":"wbagent-request+jwt","jwk":)" + SerializeJwk(jwk) + "}";
  ExpectRejected(Open(SignRaw(header, ClaimsJson(claims_).dump(), *attacker)),
                 RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RefusesCritAndOtherHeaderParameters) {
  for (const char* extra : {R"("crit":["exp"])", R"("jku":"https://evil.example/jwks")",
                            R"("x5u":"https://evil.example/c")", R"("b64":false)"}) {
    const std::string header =
        R"({"alg":"ES256","kid":"cloud-2027-01","typ":"wbagent-request+jwt",)" +
        std::string(extra) + "}";
    ExpectRejected(Open(SignRaw(header, ClaimsJson(claims_).dump(), keys_.cloud)),
                   RejectCode::kMalformed);
  }
}

TEST_F(EnvelopeTest, RefusesAKeySetPresentedAsARequest) {
  auto keyset = SignKeySet(keys_.trusted, kTenant, clock_.Now(), keys_.cloud, kCloudKid);
  ASSERT_TRUE(keyset.ok());
  ExpectRejected(Open(*keyset), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RefusesAMissingTyp) {
  ExpectRejected(Open(SignRaw(R"({"alg":"ES256","kid":"cloud-2027-01"})",
                              ClaimsJson(claims_).dump(), keys_.cloud)),
                 RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RefusesAnEncryptionKeyAsSigningKey) {
  Jwks trusted = keys_.trusted;
  trusted.keys[0].use = "enc";
  auto r = OpenRequest(SealReset(), trusted, keys_.agent, Options(), clock_, guard_);
  ExpectRejected(r, RejectCode::kUnknownKid);
}

// TrustedKeys parses each key once, when the set is made; an envelope is then checked with the
// parsed key, and one whose key did not parse is refused as unknown_kid with the reason.
TEST_F(EnvelopeTest, KeysParsedOnceOpenEnvelopesLikeTheKeySetItself) {
  const TrustedKeys trusted(keys_.trusted);
  ASSERT_TRUE(trusted.PublicKey(0).ok());
  auto r = OpenRequest(SealReset(), trusted, keys_.agent, Options(), clock_, guard_);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->signed_by, kCloudKid);
  EXPECT_EQ(r->passwords.new_password.view(), kNewPassword);
}

TEST_F(EnvelopeTest, AKeyThatDoesNotParseRefusesItsEnvelopesAsUnknownKid) {
  Jwks broken = keys_.trusted;
  broken.keys[0].y = broken.keys[0].x;  // almost surely not a point on the curve
  const TrustedKeys trusted(broken);
  ASSERT_FALSE(trusted.PublicKey(0).ok());
  auto r = OpenRequest(SealReset(), trusted, keys_.agent, Options(), clock_, guard_);
  ExpectRejected(r, RejectCode::kUnknownKid);
  EXPECT_NE(r.error().reason.find(trusted.PublicKey(0).error().message()), std::string::npos)
      << r.error().reason;
}

// --- Time ---------------------------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsExpired) {
  const std::string envelope = SealReset();
  clock_.Advance(minutes(10) + kDefaultMaxSkew + seconds(1));
  ExpectRejected(Open(envelope), RejectCode::kExpired);
}

// The reason gives the times as UTC and the difference in seconds with its direction, and
// says where to look; never epoch numbers an administrator has to subtract.
TEST_F(EnvelopeTest, AnExpiredRequestSaysBySecondsHowLateItIsAndHowToCheckTheClock) {
  const std::string envelope = SealReset();
  clock_.Advance(minutes(10) + kDefaultMaxSkew + seconds(100));
  const auto late = std::chrono::duration_cast<seconds>(clock_.Now() - claims_.expires_at);
  auto r = Open(envelope);
  ExpectRejected(r, RejectCode::kExpired);
  const std::string& reason = r.error().reason;
  EXPECT_NE(reason.find("exp " + FormatUtcSeconds(claims_.expires_at) + " is " +
                        std::to_string(late.count()) + " s behind this host's clock (" +
                        FormatUtcSeconds(clock_.Now()) + "; the allowed clock skew is " +
                        std::to_string(kDefaultMaxSkew.count()) + " s)"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("this host's clock is ahead of the cloud's"), std::string::npos) << reason;
  EXPECT_NE(reason.find("timedatectl status"), std::string::npos) << reason;
  EXPECT_NE(reason.find("chronyc tracking"), std::string::npos) << reason;
  const auto epoch = std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch());
  EXPECT_EQ(reason.find(std::to_string(epoch.count())), std::string::npos) << reason;
}

TEST_F(EnvelopeTest, ARequestFromTheFutureSaysThisClockIsBehindBySeconds) {
  claims_.issued_at = clock_.Now() + kDefaultMaxSkew + seconds(30);
  claims_.expires_at = claims_.issued_at + minutes(5);
  const Passwords pw = MakePasswords(kNewPassword);
  auto r = Open(Seal(claims_, &pw));
  ExpectRejected(r, RejectCode::kNotYetValid);
  const std::string& reason = r.error().reason;
  EXPECT_NE(reason.find("iat " + FormatUtcSeconds(claims_.issued_at) + " is " +
                        std::to_string((kDefaultMaxSkew + seconds(30)).count()) +
                        " s ahead of this host's clock"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("this host's clock is probably behind the cloud's"), std::string::npos)
      << reason;
  EXPECT_NE(reason.find("timedatectl status"), std::string::npos) << reason;
}

TEST_F(EnvelopeTest, AcceptsJustExpiredWithinTheSkew) {
  const std::string envelope = SealReset();
  clock_.Advance(minutes(10) + kDefaultMaxSkew - seconds(1));
  EXPECT_TRUE(Open(envelope).ok());
}

TEST_F(EnvelopeTest, RejectsFutureIssuedAt) {
  claims_.issued_at = clock_.Now() + kDefaultMaxSkew + seconds(1);
  claims_.expires_at = claims_.issued_at + minutes(5);
  const Passwords pw = MakePasswords(kNewPassword);
  ExpectRejected(Open(Seal(claims_, &pw)), RejectCode::kNotYetValid);
}

TEST_F(EnvelopeTest, AcceptsIssuedAtWithinTheSkew) {
  claims_.issued_at = clock_.Now() + kDefaultMaxSkew - seconds(1);
  claims_.expires_at = claims_.issued_at + minutes(5);
  const Passwords pw = MakePasswords(kNewPassword);
  EXPECT_TRUE(Open(Seal(claims_, &pw)).ok());
}

TEST_F(EnvelopeTest, RejectsFutureNotBefore) {
  claims_.not_before = clock_.Now() + kDefaultMaxSkew + seconds(1);
  const Passwords pw = MakePasswords(kNewPassword);
  ExpectRejected(Open(Seal(claims_, &pw)), RejectCode::kNotYetValid);
}

TEST_F(EnvelopeTest, RejectsALifetimeOverFifteenMinutes) {
  Json claims = ClaimsJson(claims_, SecretOf(SealReset()));
  claims["exp"] = claims["iat"].get<int64_t>() + 901;
  ExpectRejected(Open(SignClaims(claims)), RejectCode::kMalformed);
  claims_.expires_at = claims_.issued_at + minutes(16);
  const Passwords pw = MakePasswords(kNewPassword);
  EXPECT_FALSE(SealRequest(claims_, &pw, keys_.cloud, kCloudKid, keys_.agent_jwk).ok());
}

// --- Replay -------------------------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsReplayedId) {
  ASSERT_TRUE(Open(SealReset()).ok());
  claims_.nonce = NewNonce();  // same id, another issuance
  ExpectRejected(Open(SealReset()), RejectCode::kReplayed);
}

TEST_F(EnvelopeTest, RejectsReplayedNonce) {
  ASSERT_TRUE(Open(SealReset()).ok());
  claims_.id = NewRequestId();  // another id, the same nonce
  ExpectRejected(Open(SealReset()), RejectCode::kReplayed);
}

TEST_F(EnvelopeTest, ReplayMemoryIsWrittenOnlyForEnvelopesThatPassEveryCheck) {
  auto forger = EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  ExpectRejected(Open(SignRaw(RequestHeader(), ClaimsJson(claims_).dump(), *forger)),
                 RejectCode::kBadSignature);
  ExpectRejected(Open(std::string(kMaxEnvelopeBytes + 1, 'a')), RejectCode::kTooLarge);
  std::vector<std::string> jwe = JweParts();
  jwe[4][0] = jwe[4][0] == 'A' ? 'B' : 'A';
  ExpectRejected(Open(WithSecret(JoinDots(jwe))), RejectCode::kDecryptFailed);
  const std::string envelope = SealReset();
  clock_.Advance(minutes(30));
  ExpectRejected(Open(envelope), RejectCode::kExpired);
  EXPECT_EQ(guard_.calls, 0);
}

TEST_F(EnvelopeTest, ReplayMemoryFailureIsUnavailable) {
  guard_.fail = true;
  ExpectRejected(Open(SealReset()), RejectCode::kUnavailable);
}

// --- Size and form ------------------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsOversizedEnvelope) {
  ExpectRejected(Open(std::string(kMaxEnvelopeBytes + 1, 'a')), RejectCode::kTooLarge);
}

TEST_F(EnvelopeTest, SealRefusesAnEnvelopeOverTheLimit) {
  // Control characters are escaped six-fold in the plaintext: two such passwords of the
  // maximum length make a JWE beyond 16 KiB.
  const std::string big(kMaxPasswordBytes, '\x01');
  claims_.operations = {Operation::kChange};
  const Passwords pw = MakePasswords(big, big);
  auto sealed = SealRequest(claims_, &pw, keys_.cloud, kCloudKid, keys_.agent_jwk);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code(), Code::kInvalidArgument);
}

TEST_F(EnvelopeTest, RejectsBadBase64Url) {
  std::vector<std::string> parts = SplitDots(SealReset());
  ExpectRejected(Open(parts[0] + "." + parts[1] + "=." + parts[2]), RejectCode::kMalformed);
  ExpectRejected(Open(parts[0] + "." + parts[1] + "." + parts[2] + "+"), RejectCode::kMalformed);
  ExpectRejected(Open("$$$." + parts[1] + "." + parts[2]), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsTheWrongNumberOfParts) {
  std::vector<std::string> parts = SplitDots(SealReset());
  ExpectRejected(Open(parts[0] + "." + parts[1]), RejectCode::kMalformed);
  ExpectRejected(Open(JoinDots(parts) + ".x"), RejectCode::kMalformed);
  ExpectRejected(Open(""), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsAHeaderThatIsNotJson) {
  ExpectRejected(Open(Base64UrlEncode("{\"alg\":") + ".e30.AAAA"), RejectCode::kMalformed);
  ExpectRejected(Open(Base64UrlEncode("[\"ES256\"]") + ".e30.AAAA"), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsASignedPayloadThatIsNotJson) {
  ExpectRejected(Open(SignRaw(RequestHeader(), "not json {", keys_.cloud)), RejectCode::kMalformed);
  ExpectRejected(Open(SignRaw(RequestHeader(), "[1,2,3]", keys_.cloud)), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsAMissingClaim) {
  for (const char* claim : {"jti", "tenant", "aud", "iat", "exp", "nonce", "op", "target",
                            "requester", "correlation_id"}) {
    Json claims = ClaimsJson(claims_, SecretOf(SealReset()));
    claims.erase(claim);
    ExpectRejected(Open(SignClaims(claims)), RejectCode::kMalformed);
  }
}

TEST_F(EnvelopeTest, RejectsAnUnknownClaim) {
  Json claims = ClaimsJson(claims_, SecretOf(SealReset()));
  claims["sub"] = "alice";
  auto r = Open(SignClaims(claims));
  ExpectRejected(r, RejectCode::kMalformed);
  EXPECT_NE(r.error().reason.find("unknown field \"sub\""), std::string::npos) << r.error().reason;
  Json nested = ClaimsJson(claims_, SecretOf(SealReset()));
  nested["target"]["scope"] = "all";
  ExpectRejected(Open(SignClaims(nested)), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsWrongClaimTypes) {
  const std::string secret = SecretOf(SealReset());
  const std::vector<std::pair<std::string, Json>> cases = {
      {"iat", "1800000000"},
      {"exp", 1800000600.5},
      {"op", "reset"},
      {"target", Json::array()},
      {"aud", Json::array({"agent-paris-1"})},
      {"jti", 42},
      {"nonce", nullptr},
      {"requester", "alice"},
      {"correlation_id", false},
      {"secret", Json::object()},
      {"iat", -5},
      {"op", Json::array({"reset", "reset"})},
      {"op", Json::array()},
      {"op", Json::array({"delete_user"})},
      {"jti", "NOT-A-UUID"},
  };
  for (const auto& [claim, value] : cases) {
    Json claims = ClaimsJson(claims_, secret);
    claims[claim] = value;
    ExpectRejected(Open(SignClaims(claims)), RejectCode::kMalformed);
  }
}

TEST_F(EnvelopeTest, RejectsADuplicateClaim) {
  std::string text = ClaimsJson(claims_, SecretOf(SealReset())).dump();
  text.insert(1, R"("aud":"agent-evil",)");
  ExpectRejected(Open(SignRaw(RequestHeader(), text, keys_.cloud)), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsInconsistentOperations) {
  const std::string secret = SecretOf(SealReset());
  Json both = ClaimsJson(claims_, secret);
  both["op"] = {"reset", "change"};
  ExpectRejected(Open(SignClaims(both)), RejectCode::kMalformed);
  Json no_secret = ClaimsJson(claims_);  // reset without a secret
  ExpectRejected(Open(SignClaims(no_secret)), RejectCode::kMalformed);
  Json stray = ClaimsJson(claims_, secret);  // a secret without reset or change
  stray["op"] = {"unlock"};
  ExpectRejected(Open(SignClaims(stray)), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, ValidateRoundTripCarriesOnlyTheNewPassword) {
  claims_.operations = {Operation::kValidate};
  const Passwords pw = MakePasswords(kNewPassword);
  auto r = Open(Seal(claims_, &pw));
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->claims.operations, std::vector<Operation>{Operation::kValidate});
  EXPECT_EQ(r->passwords.new_password.view(), kNewPassword);
  EXPECT_TRUE(r->passwords.old_password.empty());
}

TEST_F(EnvelopeTest, ValidateStandsAloneAndNeedsASecretWithoutAnOldPassword) {
  const std::string secret = SecretOf(SealReset());
  Json with_unlock = ClaimsJson(claims_, secret);
  with_unlock["op"] = {"validate", "unlock"};
  ExpectRejected(Open(SignClaims(with_unlock)), RejectCode::kMalformed);
  Json with_reset = ClaimsJson(claims_, secret);
  with_reset["op"] = {"reset", "validate"};
  ExpectRejected(Open(SignClaims(with_reset)), RejectCode::kMalformed);
  Json no_secret = ClaimsJson(claims_);
  no_secret["op"] = {"validate"};
  ExpectRejected(Open(SignClaims(no_secret)), RejectCode::kMalformed);
  claims_.operations = {Operation::kValidate};
  auto jwe = JweEncrypt(R"({"new_password":"Correct-Horse-Battery-42!","old_password":"x"})",
                        keys_.agent_jwk);
  ASSERT_TRUE(jwe.ok());
  ExpectRejected(Open(WithSecret(*jwe)), RejectCode::kMalformed);
  // The cloud side refuses to build them too.
  claims_.operations = {Operation::kValidate, Operation::kUnlock};
  const Passwords pw = MakePasswords(kNewPassword);
  EXPECT_FALSE(SealRequest(claims_, &pw, keys_.cloud, kCloudKid, keys_.agent_jwk).ok());
  claims_.operations = {Operation::kValidate};
  EXPECT_FALSE(SealRequest(claims_, nullptr, keys_.cloud, kCloudKid, keys_.agent_jwk).ok());
}

TEST_F(EnvelopeTest, RejectsChangeWithoutTheOldPassword) {
  claims_.operations = {Operation::kChange};
  auto jwe = JweEncrypt(R"({"new_password":"Correct-Horse-Battery-42!"})", keys_.agent_jwk);
  ASSERT_TRUE(jwe.ok());
  ExpectRejected(Open(WithSecret(*jwe)), RejectCode::kMalformed);
}

TEST_F(EnvelopeTest, RejectsAMalformedSecretPlaintext) {
  auto jwe =
      JweEncrypt(R"({"new_password":"Correct-Horse-Battery-42!","extra":1})", keys_.agent_jwk);
  ASSERT_TRUE(jwe.ok());
  ExpectRejected(Open(WithSecret(*jwe)), RejectCode::kMalformed);
}

// --- Binding to this agent ----------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsWrongTenant) {
  claims_.tenant = "tenant-fabrikam";
  ExpectRejected(Open(SealReset()), RejectCode::kWrongTenant);
}

TEST_F(EnvelopeTest, RejectsWrongAudience) {
  claims_.audience = "agent-tokyo-2";
  ExpectRejected(Open(SealReset()), RejectCode::kWrongAudience);
}

// --- The JWE ------------------------------------------------------------------------------

TEST_F(EnvelopeTest, RejectsAJweEncryptedToAnotherKey) {
  auto other = EcPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  Jwk other_jwk = other->PublicJwk("enc", "ECDH-ES");
  auto jwe = JweEncrypt(R"({"new_password":"x"})", other_jwk);
  ASSERT_TRUE(jwe.ok());
  ExpectRejected(Open(WithSecret(*jwe)), RejectCode::kDecryptFailed);
  // The same, carrying this agent's kid: the key agreement gives another key.
  other_jwk.kid = keys_.agent_jwk.kid;
  jwe = JweEncrypt(R"({"new_password":"x"})", other_jwk);
  ASSERT_TRUE(jwe.ok());
  ExpectRejected(Open(WithSecret(*jwe)), RejectCode::kDecryptFailed);
}

TEST_F(EnvelopeTest, RejectsATamperedJweTag) {
  std::vector<std::string> jwe = JweParts();
  jwe[4][3] = jwe[4][3] == 'A' ? 'B' : 'A';
  ExpectRejected(Open(WithSecret(JoinDots(jwe))), RejectCode::kDecryptFailed);
}

TEST_F(EnvelopeTest, RejectsATamperedJweCiphertextOrHeader) {
  std::vector<std::string> jwe = JweParts();
  std::vector<std::string> ct = jwe;
  ct[3][0] = ct[3][0] == 'A' ? 'B' : 'A';
  ExpectRejected(Open(WithSecret(JoinDots(ct))), RejectCode::kDecryptFailed);
  // A header with an added (valid) member changes the AAD.
  Json header = Json::parse(*Base64UrlDecode(jwe[0]));
  header["apu"] = "QWxpY2U";
  jwe[0] = Base64UrlEncode(header.dump());
  ExpectRejected(Open(WithSecret(JoinDots(jwe))), RejectCode::kDecryptFailed);
}

TEST_F(EnvelopeTest, RejectsAJweWithAnotherAlgorithm) {
  for (const auto& [member, value] :
       {std::pair{"enc", "A128GCM"}, std::pair{"enc", "A256CBC-HS512"},
        std::pair{"alg", "ECDH-ES+A256KW"}, std::pair{"alg", "dir"}}) {
    std::vector<std::string> jwe = JweParts();
    Json header = Json::parse(*Base64UrlDecode(jwe[0]));
    header[member] = value;
    jwe[0] = Base64UrlEncode(header.dump());
    ExpectRejected(Open(WithSecret(JoinDots(jwe))), RejectCode::kBadAlgorithm);
  }
}

TEST_F(EnvelopeTest, RejectsAMalformedJwe) {
  std::vector<std::string> jwe = JweParts();
  std::vector<std::string> with_key = jwe;
  with_key[1] = "AAAA";  // ECDH-ES direct has no encrypted key
  ExpectRejected(Open(WithSecret(JoinDots(with_key))), RejectCode::kMalformed);
  std::vector<std::string> four(jwe.begin(), jwe.begin() + 4);
  ExpectRejected(Open(WithSecret(JoinDots(four))), RejectCode::kMalformed);
  Json header = Json::parse(*Base64UrlDecode(jwe[0]));
  header["epk"]["y"] = header["epk"]["x"];  // off the curve
  jwe[0] = Base64UrlEncode(header.dump());
  ExpectRejected(Open(WithSecret(JoinDots(jwe))), RejectCode::kMalformed);
}

// --- What a rejection says ----------------------------------------------------------------

TEST_F(EnvelopeTest, ARejectionCarriesTheClaimedIdInUuidFormOnly) {
  claims_.tenant = "tenant-fabrikam";
  auto r = Open(SealReset());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().request_id, claims_.id);
  auto forger = EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  auto forged = Open(SignRaw(RequestHeader(), ClaimsJson(claims_).dump(), *forger));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().request_id, claims_.id);
  Json odd = ClaimsJson(claims_);
  odd["jti"] = "\u001b[2J not-a-uuid";
  auto r2 = Open(SignRaw(RequestHeader(), odd.dump(), *forger));
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(r2.error().request_id.empty());
}

TEST_F(EnvelopeTest, AnIdIsAuthenticatedOnlyOnceTheSignatureVerified) {
  claims_.tenant = "tenant-fabrikam";  // fails after the signature
  auto signed_by_cloud = Open(SealReset());
  ASSERT_FALSE(signed_by_cloud.ok());
  EXPECT_TRUE(signed_by_cloud.error().id_authenticated);
  auto forger = EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  auto forged = Open(SignRaw(RequestHeader(), ClaimsJson(claims_).dump(), *forger));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().request_id, claims_.id);
  EXPECT_FALSE(forged.error().id_authenticated);
}

// docs/protocol.md section 4, `rejected.id`: read whatever else is wrong, but only when the
// payload names exactly one jti.
TEST_F(EnvelopeTest, TheClaimedIdIsReadDespiteDuplicateOtherMembers) {
  std::string payload = ClaimsJson(claims_).dump();
  payload.insert(payload.size() - 1, R"(,"tenant":"again","tenant":"and again")");
  const std::string envelope = SignRaw(RequestHeader(), payload, keys_.cloud);
  EXPECT_EQ(ClaimedRequestId(envelope), claims_.id);
  auto r = Open(envelope);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RejectCode::kMalformed);
  EXPECT_EQ(r.error().request_id, claims_.id);
}

TEST_F(EnvelopeTest, TwoJtiMembersNameNoId) {
  std::string payload = ClaimsJson(claims_).dump();
  payload.insert(payload.size() - 1, R"(,"jti":"00000000-0000-4000-8000-000000000000")");
  const std::string envelope = SignRaw(RequestHeader(), payload, keys_.cloud);
  EXPECT_EQ(ClaimedRequestId(envelope), "");
  auto r = Open(envelope);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().request_id.empty());
}

TEST_F(EnvelopeTest, TheClaimedIdIsReadWhenTheHeaderIsBroken) {
  std::vector<std::string> parts = SplitDots(SealReset());
  parts[0] = Base64UrlEncode("not json");
  const std::string envelope = JoinDots(parts);
  EXPECT_EQ(ClaimedRequestId(envelope), claims_.id);
  auto r = Open(envelope);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RejectCode::kMalformed);
  EXPECT_EQ(r.error().request_id, claims_.id);
}

TEST_F(EnvelopeTest, NoClaimedIdWithoutThreePartsAnObjectAndAUuid) {
  std::vector<std::string> parts = SplitDots(SealReset());
  EXPECT_EQ(ClaimedRequestId(parts[0] + "." + parts[1]), "");
  EXPECT_EQ(ClaimedRequestId(JoinDots(parts) + ".x"), "");
  EXPECT_EQ(ClaimedRequestId(parts[0] + "." + Base64UrlEncode("[1,2]") + "." + parts[2]), "");
  EXPECT_EQ(ClaimedRequestId(parts[0] + ".%%%." + parts[2]), "");
  Json nested = ClaimsJson(claims_);
  nested.erase("jti");
  nested["x"] = Json{{"jti", claims_.id}};  // not at the top level
  EXPECT_EQ(ClaimedRequestId(SignRaw(RequestHeader(), nested.dump(), keys_.cloud)), "");
  Json upper = ClaimsJson(claims_);
  upper["jti"] = "3B241101-E2BB-4255-8CAF-4136C566A962";
  EXPECT_EQ(ClaimedRequestId(SignRaw(RequestHeader(), upper.dump(), keys_.cloud)), "");
}

TEST_F(EnvelopeTest, ARejectionEscapesPeerText) {
  const std::string header =
      R"({"alg":"\u001b[31mHS256\n","kid":"cloud-2027-01","typ":"wbagent-request+jwt"})";
  auto r = Open(SignRaw(header, ClaimsJson(claims_).dump(), keys_.cloud));
  ExpectRejected(r, RejectCode::kBadAlgorithm);
  EXPECT_EQ(r.error().reason.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.error().reason.find('\n'), std::string::npos);
  EXPECT_NE(r.error().reason.find("\\x1b"), std::string::npos) << r.error().reason;
}

}  // namespace
}  // namespace wb::protocol
