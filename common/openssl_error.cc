#include "common/openssl_error.h"

#include <openssl/err.h>

namespace wb {

std::string TakeOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error recorded" : out;
}

Status OpenSslError(std::string_view what) {
  return Internal(std::string(what) + ": " + TakeOpenSslErrors());
}

}  // namespace wb
