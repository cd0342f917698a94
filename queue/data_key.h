#pragma once
// The local data key that encrypts passwords at rest, and AES-256-GCM with it.
//
// A sealed blob is: version byte (1) | 12-byte random nonce | ciphertext | 16-byte tag. The
// associated data (the request id) binds a blob to its request: a blob copied to another row
// does not open. This is the boundary where OpenSSL errors become Status.

#include <string>
#include <string_view>

#include "common/secret.h"
#include "common/status.h"

namespace wb::queue {

class DataKey {
 public:
  static constexpr std::size_t kSize = 32;

  // A fresh random key.
  static Result<DataKey> Generate();
  // From 64 hex digits (either case). kCorruption otherwise; the message shows no key bytes.
  static Result<DataKey> FromHex(std::string_view hex, std::string_view where);

  // 64 lowercase hex digits: the key file's content.
  Secret ToHex() const;
  // A public fingerprint of the key (16 hex digits of a SHA-256), stored in the database to
  // detect a replaced key. Reveals nothing usable about the key.
  std::string Id() const;

  // Encrypts `plaintext` under a fresh nonce, with `aad` as associated data.
  Result<std::string> Seal(std::string_view plaintext, std::string_view aad) const;
  // Decrypts and authenticates. kCorruption for a blob that is malformed, was sealed under
  // another key or other associated data, or was altered.
  Result<Secret> Open(std::string_view blob, std::string_view aad) const;

 private:
  explicit DataKey(Secret bytes) : bytes_(std::move(bytes)) {}
  Secret bytes_;  // kSize bytes
};

}  // namespace wb::queue
