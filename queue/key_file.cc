#include "queue/key_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/secret.h"
#include "common/secure_memory.h"
#include "queue/fs_util.h"

namespace wb::queue {

namespace {

Result<LoadedKey> ReadKey(const std::filesystem::path& path) {
  Result<Secret> hex = ReadSecretFile(path);
  if (!hex.ok()) return hex.error().WithContext("queue data key");
  Result<DataKey> key = DataKey::FromHex(hex->view(), path.string());
  if (!key.ok()) return key.error();
  return LoadedKey{std::move(key).value(), path, false};
}

// Writes the hex key to a temporary file and links it into place: the key file either does not
// exist or is complete, even after a crash.
Status WriteNewKeyFile(const DataKey& key, const std::filesystem::path& path) {
  std::filesystem::path tmp = path;
  tmp += ".new";
  ::unlink(tmp.c_str());  // a leftover from a crash; we hold the state directory lock
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "creating " + tmp.string());
  const Secret hex = key.ToHex();
  // The line is built in secure memory: a std::string would reallocate on the '\n' and free
  // a copy of the key unwiped.
  SecureString line = MakeSecureString(hex.size() + 1);
  line += hex.view();
  line += '\n';
  Status s = WriteAllAndSync(fd, std::string_view(line.data(), line.size()), tmp);
  ::close(fd);
  if (s.ok() && ::link(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus(errno, "creating " + path.string());
  }
  ::unlink(tmp.c_str());
  if (!s.ok()) return s;
  return SyncDirectory(path.parent_path());
}

}  // namespace

Result<LoadedKey> LoadOrCreateKey(const KeyLocation& where) {
  if (where.credentials_directory && !where.credentials_directory->empty()) {
    std::filesystem::path cred = *where.credentials_directory / where.credential_name;
    if (::access(cred.c_str(), F_OK) == 0) return ReadKey(cred);
  }
  std::filesystem::path path = where.state_dir / kKeyFileName;
  if (::access(path.c_str(), F_OK) == 0) return ReadKey(path);
  if (errno != ENOENT) return ErrnoStatus(errno, path.string());
  if (!where.may_create) {
    return FailedPrecondition("data key " + path.string() +
                              " is missing, but the queue holds secrets sealed with it; restore "
                              "the key file (or the credential) from a backup");
  }
  Result<DataKey> key = DataKey::Generate();
  if (!key.ok()) return key.error();
  WB_RETURN_IF_ERROR(WriteNewKeyFile(*key, path));
  return LoadedKey{std::move(key).value(), path, true};
}

}  // namespace wb::queue
