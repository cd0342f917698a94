// Compact JWS (RFC 7515 section 7.1) framing, ES256 only.
#include "protocol/base64url.h"
#include "protocol/internal.h"
#include "protocol/jose.h"

namespace wb::protocol {
namespace {

constexpr std::size_t kMaxHeaderBytes = 1024;

}  // namespace

Result<CompactJws> SplitCompactJws(std::string_view compact) {
  const std::size_t dot1 = compact.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos) {
    return InvalidArgument("not a compact JWS: it must have exactly three parts");
  }
  CompactJws jws;
  jws.signing_input = compact.substr(0, dot2);
  std::string header_text;
  if (dot1 == 0 || !Base64UrlDecode(compact.substr(0, dot1), header_text) ||
      !Base64UrlDecode(compact.substr(dot1 + 1, dot2 - dot1 - 1), jws.payload) ||
      !Base64UrlDecode(compact.substr(dot2 + 1), jws.signature)) {
    return InvalidArgument("not a compact JWS: a part is not canonical base64url");
  }
  auto header = ParseStrictJson(header_text, kMaxHeaderBytes, "JWS header");
  if (!header.ok()) return InvalidArgument(header.error().message());
  if (!header->is_object()) return InvalidArgument("JWS header: not a JSON object");
  jws.header = std::move(*header);
  return jws;
}

Result<std::string> SignCompactJws(const OrderedJson& header, std::string_view payload,
                                   EVP_PKEY* key) {
  std::string out = Base64UrlEncode(Dump(header));
  out += '.';
  out += Base64UrlEncode(payload);
  auto sig = Es256Sign(key, out);
  if (!sig.ok()) return sig.error();
  out += '.';
  out += Base64UrlEncode(*sig);
  return out;
}

}  // namespace wb::protocol
