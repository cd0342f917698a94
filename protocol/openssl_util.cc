#include "protocol/openssl_util.h"

#include <openssl/err.h>

#include "common/openssl_error.h"

namespace wb::protocol {

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace wb::protocol
