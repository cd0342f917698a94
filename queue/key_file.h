#pragma once
// Where the data key comes from: a systemd credential, or a key file in the state directory
// that the first start creates.

#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"
#include "queue/data_key.h"

namespace wb::queue {

struct KeyLocation {
  std::filesystem::path state_dir;
  // <credentials_directory>/<credential_name> is used when it exists.
  std::optional<std::filesystem::path> credentials_directory;
  std::string credential_name = "queue.key";
  // False when stored secrets need the existing key: a missing key file is then an error
  // instead of being replaced by a new key that could not open them.
  bool may_create = true;
};

struct LoadedKey {
  DataKey key;
  std::filesystem::path path;  // the file it came from
  bool created;                // made by this call
};

// The local key file's name in the state directory.
inline constexpr char kKeyFileName[] = "queue.key";

// Reads the credential if present, else state_dir/queue.key, creating that file (mode 0600,
// O_EXCL, fsynced, atomically named) when absent. A key file accessible by group or others is
// refused with kPermissionDenied; a malformed one with kCorruption; a missing one that may not
// be created with kFailedPrecondition.
Result<LoadedKey> LoadOrCreateKey(const KeyLocation& where);

}  // namespace wb::queue
