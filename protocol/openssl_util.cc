#include "protocol/openssl_util.h"

#include <openssl/err.h>

namespace wb::protocol {

Status OpenSslError(std::string_view what) {
  std::string text(what);
  bool first = true;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text += first ? ": " : "; ";
    text += buf;
    first = false;
  }
  return Internal(std::move(text));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace wb::protocol
