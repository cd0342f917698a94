#pragma once
// The secret part of a request, as stored: the new and old passwords in one sealed blob.
//
// Plaintext layout before sealing: u32 big-endian length of the new password, its bytes, u32
// length of the old password, its bytes. The request id is the associated data.

#include <string>
#include <string_view>

#include "common/secret.h"
#include "common/status.h"
#include "queue/data_key.h"

namespace wb::queue {

struct Passwords {
  Secret new_password;
  Secret old_password;
};

// Returns the sealed blob, or an empty string when both passwords are empty (nothing to store).
Result<std::string> SealPasswords(const DataKey& key, std::string_view request_id,
                                  const Secret& new_password, const Secret& old_password);

// kCorruption when the blob does not open under `key` for `request_id`, or is malformed.
Result<Passwords> OpenPasswords(const DataKey& key, std::string_view request_id,
                                std::string_view blob);

}  // namespace wb::queue
