#include "tests/fuzz/fuzz_support.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace wb::fuzz {
namespace {

std::string ReadVector(const std::string& name) {
  std::ifstream in(std::string(WB_PROTOCOL_VECTORS_DIR) + "/" + name, std::ios::binary);
  if (!in) SetupFailed("cannot read the protocol test vector " + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

protocol::EcPrivateKey VectorKey(const std::string& name) {
  auto key = protocol::EcPrivateKey::FromPem(ReadVector(name));
  if (!key.ok()) SetupFailed(name + ": " + key.error().ToString());
  return std::move(key).value();
}

VectorKeys LoadKeys() {
  auto trusted = protocol::ParseJwks(ReadVector("cloud-keys.json"));
  if (!trusted.ok()) SetupFailed("cloud-keys.json: " + trusted.error().ToString());
  return VectorKeys{VectorKey("cloud-signing-key.pem"), std::move(*trusted),
                    VectorKey("agent-encryption-key.pem")};
}

// Removed at exit by its destructor.
struct ScratchFolder {
  std::filesystem::path path;
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::filesystem::path MakeScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "wb-fuzz-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) SetupFailed("mkdtemp " + pattern);
  return pattern;
}

}  // namespace

const VectorKeys& Keys() {
  static const VectorKeys keys = LoadKeys();
  return keys;
}

const wb::testing::FakeClock& VectorClock() {
  static const wb::testing::FakeClock clock(WallTime(std::chrono::seconds(1'800'000'030)));
  return clock;
}

const std::filesystem::path& ScratchDir() {
  static const ScratchFolder folder{MakeScratchDir()};
  return folder.path;
}

void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) SetupFailed("cannot write " + path.string());
}

void OpenAndCheck(std::string_view envelope) {
  const protocol::OpenOptions options{std::string(kTenant), std::string(kAgentId)};
  const auto replay = protocol::NewInMemoryReplayGuard(VectorClock());
  auto open = [&] {
    return protocol::OpenRequest(envelope, Keys().trusted, Keys().agent, options, VectorClock(),
                                 *replay);
  };
  const std::string claimed = protocol::ClaimedRequestId(envelope);
  auto opened = open();
  if (!opened.ok()) {
    const protocol::Rejection& rejection = opened.error();
    Require(
        !rejection.reason.empty() && std::all_of(rejection.reason.begin(), rejection.reason.end(),
                                                 [](char c) { return c >= 0x20 && c < 0x7f; }),
        "a rejection's reason is empty or holds unescaped bytes");
    Require(rejection.request_id == claimed,
            "a rejection names another id than ClaimedRequestId(envelope)");
    Require(!rejection.id_authenticated || !rejection.request_id.empty(),
            "an authenticated rejection has no request id");
    return;
  }
  Require(opened->claims.id == claimed, "an opened request's id is not its claimed id");
  Require(opened->signed_by == kCloudKid, "an opened request names another signer");
  Require(!opened->redelivered, "a fresh replay memory reported a redelivery");
  auto again = open();
  Require(again.ok() && again->redelivered, "the same envelope twice is not a redelivery");
}

void Require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

void SetupFailed(std::string_view what) {
  std::fprintf(stderr, "fuzz harness setup failed: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace wb::fuzz
