// protocol::OpenRequest on raw bytes: the `envelope` of a request frame, exactly as a peer on
// the channel can send it. Almost every input stops at the signature, which is the point:
// everything before it (size, compact form, base64url, the JWS header, kid lookup) is what an
// unauthenticated peer reaches. The claims and the JWE behind the signature are fuzzed by
// fuzz_signed_claims.
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)wb::fuzz::Keys();  // outside the first run's timing
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wb::fuzz::OpenAndCheck(wb::fuzz::AsText(data, size));
  return 0;
}
