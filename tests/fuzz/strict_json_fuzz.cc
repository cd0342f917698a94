// The strict JSON parser every peer document goes through (protocol/strict_json.h), and the
// character-set rules the field readers apply to its strings.
//
// Properties: a document that parses prints (Dump) to text that parses again to an equal
// document, so that what the agent logs or re-sends is what it read.
#include <cmath>

#include "protocol/strict_json.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using wb::protocol::Charset;
using wb::protocol::Json;

// Non-finite numbers print as null (JSON has no spelling for them), so equality after a
// round trip is only promised without them. nlohmann reads 1e999 as infinity.
bool AllFinite(const Json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>());
  if (!j.is_structured()) return true;
  for (const Json& item : j) {
    if (!AllFinite(item)) return false;
  }
  return true;
}

void CheckRoundTrip(const Json& parsed) {
  const std::string printed = wb::protocol::Dump(parsed);
  // Dump can be longer than its input (1e5 prints as 100000.0): no size bound on the re-read.
  auto again = wb::protocol::ParseStrictJson(printed, printed.size(), "printed");
  wb::fuzz::Require(again.ok(), "a parsed document printed to text that does not parse");
  if (AllFinite(parsed)) {
    wb::fuzz::Require(*again == parsed, "a document changed in a print/parse round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = wb::fuzz::AsText(data, size);
  auto parsed = wb::protocol::ParseStrictJson(text, wb::protocol::kMaxMessageBytes, "fuzz");
  if (parsed.ok()) CheckRoundTrip(*parsed);
  // A bound below the input's size must refuse it, whatever the input holds.
  if (size > 0) {
    auto bounded = wb::protocol::ParseStrictJson(text, size - 1, "fuzz");
    wb::fuzz::Require(!bounded.ok() && bounded.error().code() == wb::Code::kResourceExhausted,
                      "a document larger than max_bytes was not refused as too large");
  }
  for (Charset charset : {Charset::kText, Charset::kPrintable, Charset::kToken, Charset::kMethod,
                          Charset::kBase64Url, Charset::kCompact, Charset::kPem, Charset::kUuid}) {
    (void)wb::protocol::Matches(text, {.min = 0, .max = size, .charset = charset});
  }
  return 0;
}
