#pragma once
// What the fuzz targets share: the committed test keys, a fixed clock, a scratch folder, and
// how a broken property ends the run.
//
// Everything here is fixed for the life of the process, so that a reproducer replays the
// same path on every run and every machine: the keys are those of tests/protocol/vectors
// (published test keys), and the clock stands at the vectors' time. libFuzzer gives a target
// no context argument, hence the function-local statics.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

#include "protocol/protocol.h"
#include "tests/support/fake_clock.h"

namespace wb::fuzz {

struct VectorKeys {
  protocol::EcPrivateKey cloud;  // signs requests and key sets, kid kCloudKid
  protocol::Jwks trusted;        // its public half, as the agent pins it
  protocol::EcPrivateKey agent;  // the agent's ECDH-ES key: the vectors' JWEs are for it
};

// The tenant, agent id and cloud kid the vectors were made for.
inline constexpr std::string_view kTenant = "tenant-contoso";
inline constexpr std::string_view kAgentId = "agent-paris-1";
inline constexpr std::string_view kCloudKid = "wbcloud-test-2027-01";

// Loaded once; aborts when the vectors cannot be read (a broken checkout, not a finding).
const VectorKeys& Keys();

// 30 s after the vectors' iat, so that their envelopes open.
const wb::testing::FakeClock& VectorClock();

// A folder of this process's own under $TMPDIR, removed at exit.
const std::filesystem::path& ScratchDir();

// Replaces `path` with `bytes`; aborts on failure (the disk, not the code under test).
void WriteFile(const std::filesystem::path& path, std::string_view bytes);

// Opens `envelope` as the agent does (protocol::OpenRequest with Keys(), VectorClock(), the
// vectors' tenant and agent id, and a fresh in-memory replay memory) and checks what
// protocol.h promises of any outcome:
//   - a rejection's reason is one printable ASCII line (peer text in it was escaped);
//   - the request id reported, authenticated or not, is ClaimedRequestId(envelope), so an
//     unauthenticated id is exactly what anyone can read from the frame;
//   - an opened envelope's id is that too, and opening it again is a redelivery.
void OpenAndCheck(std::string_view envelope);

// The fuzzer's input as text.
inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property the target checks beyond "does not crash". Aborts with `what`, which libFuzzer
// reports as a crash and saves the input as a reproducer.
void Require(bool holds, const char* what);

// Aborts: the harness itself could not be set up.
[[noreturn]] void SetupFailed(std::string_view what);

}  // namespace wb::fuzz
