// base64url without padding (protocol/base64url.h), which decodes every part of every JOSE
// object a peer sends.
//
// Properties: the decoder is strict, so a text it accepts is the one canonical encoding of
// what it decoded to (Encode(Decode(t)) == t); and any bytes survive Encode then Decode.
#include "protocol/base64url.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = wb::fuzz::AsText(data, size);

  std::string decoded;
  if (wb::protocol::Base64UrlDecode(input, decoded)) {
    wb::fuzz::Require(wb::protocol::Base64UrlEncode(decoded) == input,
                      "an accepted base64url text is not the canonical encoding of its bytes");
  }
  // The optional form agrees with the out-parameter form.
  const auto optional = wb::protocol::Base64UrlDecode(input);
  wb::fuzz::Require(optional.has_value() == wb::protocol::Base64UrlDecode(input, decoded),
                    "the two Base64UrlDecode overloads disagree");

  const std::string encoded = wb::protocol::Base64UrlEncode(input);
  wb::fuzz::Require(encoded.size() == (size * 4 + 2) / 3, "an encoding has the wrong length");
  const auto round_trip = wb::protocol::Base64UrlDecode(encoded);
  wb::fuzz::Require(round_trip.has_value() && *round_trip == input,
                    "bytes did not survive Base64UrlEncode then Base64UrlDecode");
  return 0;
}
