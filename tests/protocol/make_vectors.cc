// Writes the protocol test vectors that docs/protocol.md quotes and vectors_test.cc checks.
// The committed files are the vectors (signatures and JWE ephemeral keys are random, so a
// second run would write different, equally valid, files): a file that exists is kept, and the
// keys in DIR are used when they are there, so that a run adds only the vectors that are new:
//   protocol_make_vectors tests/protocol/vectors
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "protocol/base64url.h"
#include "protocol/protocol.h"
#include "protocol/secret_json.h"

namespace wb::protocol {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kIssuedAt = 1'800'000'000;  // 2027-01-15T08:00:00Z

void Write(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text << '\n';
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    std::exit(1);
  }
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::cerr << what << ": " << r.error().ToString() << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

std::string PayloadOf(std::string_view jws) {
  const std::size_t a = jws.find('.');
  const std::size_t b = jws.find('.', a + 1);
  return Base64UrlDecode(jws.substr(a + 1, b - a - 1)).value_or("");
}

std::string SecretOf(std::string_view payload) {
  const std::string key = "\"secret\":\"";
  const std::size_t at = payload.find(key);
  if (at == std::string_view::npos) return "";
  const std::size_t start = at + key.size();
  return std::string(payload.substr(start, payload.find('"', start) - start));
}

RequestClaims Claims(std::string_view id, std::string_view nonce, std::vector<Operation> ops) {
  RequestClaims c;
  c.id = id;
  c.tenant = "tenant-contoso";
  c.audience = "agent-paris-1";
  c.issued_at = WallTime(std::chrono::seconds(kIssuedAt));
  c.expires_at = c.issued_at + std::chrono::seconds(600);
  c.nonce = nonce;
  c.operations = std::move(ops);
  c.target = {TargetKind::kUserPrincipalName, "alice@contoso.example"};
  c.requester = {RequesterType::kSelf, "alice@contoso.example", {"email_otp", "totp"}};
  c.correlation_id = "c0ffee00-0000-4000-8000-000000000001";
  return c;
}

void WriteRequest(const fs::path& dir, std::string_view name, const RequestClaims& claims,
                  const Passwords& passwords, const EcPrivateKey& cloud, const Jwk& agent) {
  if (fs::exists(dir / (std::string(name) + ".jws"))) return;
  const std::string jws =
      Must(SealRequest(claims, &passwords, cloud, "wbcloud-test-2027-01", agent), "seal");
  const std::string payload = PayloadOf(jws);
  WipedString plaintext;
  if (!SerializePasswords(passwords, plaintext).ok()) std::exit(1);
  Write(dir / (std::string(name) + ".jws"), jws);
  Write(dir / (std::string(name) + ".payload.json"), payload);
  Write(dir / (std::string(name) + ".jwe"), SecretOf(payload));
  Write(dir / (std::string(name) + ".plaintext.json"), plaintext.view());
}

// The key in `path` (committed without mode 0600, so read as text), or a new one saved there.
EcPrivateKey KeptOrNew(const fs::path& path) {
  if (fs::exists(path)) {
    std::ifstream in(path, std::ios::binary);
    const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Must(EcPrivateKey::FromPem(pem), "kept key");
  }
  EcPrivateKey key = Must(EcPrivateKey::Generate(), "new key");
  if (!key.Save(path).ok()) std::exit(1);
  return key;
}

void WriteIfNew(const fs::path& path, std::string_view text) {
  if (!fs::exists(path)) Write(path, text);
}

// The policy summary an agent with one AD directory and local rules sends.
PolicySummary SummaryVector() {
  PasswordRulesSummary self{.min_length = 12,
                            .max_length = 0,
                            .min_classes = 3,
                            .forbidden_characters = "<>",
                            .max_repeated = 3,
                            .not_same_as_old = true,
                            .no_name_parts = true,
                            .banned_words = true,
                            .breached = true,
                            .enforced = true};
  PasswordRulesSummary admin = self;
  admin.min_length = 16;
  return PolicySummary{
      {DirectorySummary{.name = "corp",
                        .upn_suffixes = {"contoso.example"},
                        .directory = DirectoryRulesSummary{.min_length = 7,
                                                           .max_length = 0,
                                                           .complexity = true,
                                                           .history_length = 24,
                                                           .min_age = std::chrono::seconds(86400)},
                        .self = self,
                        .admin = admin}}};
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: protocol_make_vectors DIR\n";
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  EcPrivateKey cloud = KeptOrNew(dir / "cloud-signing-key.pem");
  EcPrivateKey next = KeptOrNew(dir / "cloud-signing-key-next.pem");
  EcPrivateKey agent = KeptOrNew(dir / "agent-encryption-key.pem");
  Jwk cloud_jwk = cloud.PublicJwk("sig", "ES256");
  cloud_jwk.kid = "wbcloud-test-2027-01";
  Jwk next_jwk = next.PublicJwk("sig", "ES256");
  next_jwk.kid = "wbcloud-test-2027-07";
  const Jwk agent_jwk = agent.PublicJwk("enc", "ECDH-ES");
  WriteIfNew(dir / "cloud-keys.json", SerializeJwks(Jwks{{cloud_jwk}}));
  WriteIfNew(dir / "agent-encryption-jwk.json", SerializeJwk(agent_jwk));

  WriteRequest(dir, "reset",
               Claims("3b241101-e2bb-4255-8caf-4136c566a962", "bm9uY2UtZm9yLXRoZS1yZXNldC12ZWN0b3I",
                      {Operation::kReset, Operation::kUnlock}),
               Passwords{Secret("Winter-Is-Coming-2027!"), Secret()}, cloud, agent_jwk);
  WriteRequest(dir, "change",
               Claims("9c5b94b1-35ad-49bb-b118-8e8fc24abf80",
                      "bm9uY2UtZm9yLXRoZS1jaGFuZ2UtdmVjdG9y", {Operation::kChange}),
               Passwords{Secret("Spring-Is-Here-2027?"), Secret("Winter-Is-Coming-2027!")}, cloud,
               agent_jwk);
  WriteRequest(dir, "validate",
               Claims("5f0c3a3e-8d0b-4a52-9c4e-6f1d2b7a9e10",
                      "bm9uY2UtZm9yLXRoZS12YWxpZGF0ZS12ZWN0b3I", {Operation::kValidate}),
               Passwords{Secret("Summer-Of-2027-Rules"), Secret()}, cloud, agent_jwk);
  if (!fs::exists(dir / "keyset.jws")) {
    const std::string keyset =
        Must(SignKeySet(Jwks{{cloud_jwk, next_jwk}}, "tenant-contoso",
                        WallTime(std::chrono::seconds(kIssuedAt)), cloud, cloud_jwk.kid),
             "keyset");
    Write(dir / "keyset.jws", keyset);
    Write(dir / "keyset.payload.json", PayloadOf(keyset));
  }
  WriteIfNew(dir / "policy-summary.json", Serialize(SummaryVector()));
  std::cout << "wrote vectors to " << dir << "\n";
  return 0;
}

}  // namespace
}  // namespace wb::protocol

int main(int argc, char** argv) { return wb::protocol::Main(argc, argv); }
