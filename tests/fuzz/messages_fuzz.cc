// Every channel message (protocol::ParseMessage), the best-effort readers the channel uses on
// frames that do not parse (MessageTypeOf, ClaimedRequestId), the enrollment bodies, and what
// the agent does next with a request or a key set frame.
//
// Properties: a message that parses is written (Serialize) as a frame that parses again to
// the same message and keeps its type; the same for the enrollment bodies.
#include <string>
#include <variant>

#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace wb::protocol;
using wb::fuzz::Require;

void CheckMessage(std::string_view frame, const Message& message) {
  const std::string written = Serialize(message);
  auto again = ParseMessage(written);
  Require(again.ok(), "a message that parsed was serialized to a frame that does not parse");
  Require(Serialize(*again) == written, "a message changed in a serialize/parse round trip");
  Require(MessageTypeOf(written) == MessageTypeOf(frame), "a message changed its type");
  Require(!MessageTypeOf(frame).empty(), "a frame that parses has no readable type");

  // The agent's next step for the two frames that carry signed content.
  if (const auto* request = std::get_if<Request>(&message)) {
    wb::fuzz::OpenAndCheck(request->envelope);
  } else if (const auto* keyset = std::get_if<KeySet>(&message)) {
    (void)VerifyKeySet(keyset->jwks_jws, wb::fuzz::Keys().trusted, wb::fuzz::kTenant,
                       wb::fuzz::VectorClock(), kDefaultMaxSkew, std::nullopt);
  }
}

template <typename T>
void CheckEnrollment(const wb::Result<T>& parsed, wb::Result<T> (*parse)(std::string_view)) {
  if (!parsed.ok()) return;
  const std::string written = Serialize(*parsed);
  auto again = parse(written);
  Require(again.ok(), "an enrollment body that parsed was serialized to one that does not");
  Require(Serialize(*again) == written, "an enrollment body changed in a round trip");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)wb::fuzz::Keys();  // outside the first run's timing
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame = wb::fuzz::AsText(data, size);
  (void)MessageTypeOf(frame);
  (void)ClaimedRequestId(frame);
  auto message = ParseMessage(frame);
  if (message.ok()) {
    CheckMessage(frame, *message);
  } else {
    (void)RejectCodeForParseError(message.error());
  }
  CheckEnrollment(ParseEnrollRequest(frame), &ParseEnrollRequest);
  CheckEnrollment(ParseEnrollResponse(frame), &ParseEnrollResponse);
  return 0;
}
