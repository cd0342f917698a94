// The audit key: from a systemd credential, or from key_file, created at first start.
#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "audit/audit.h"
#include "audit/internal/crypto.h"
#include "audit/internal/files.h"

namespace wb::audit {
namespace {

Result<LoadedKey> ReadKeyFile(const std::filesystem::path& path) {
  auto text = ReadSecretFile(path);
  if (!text.ok()) return text.error();
  std::optional<Secret> key = internal::HexDecodeSecret(text->view());
  if (!key || key->size() < kKeyBytes) {
    return InvalidArgument(path.string() + ": not an audit key (expected at least " +
                           std::to_string(kKeyBytes * 2) +
                           " hex digits, as `openssl rand -hex 32` writes)");
  }
  return LoadedKey{std::move(*key), path, false};
}

// Writes a new key to a private temporary file, then link()s it to `path`: link fails with
// EEXIST like O_EXCL, and the key file never exists half-written, so a process that loses the
// race to create it reads the winner's complete key.
Status WriteNewKey(const std::filesystem::path& tmp) {
  auto fd = internal::OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (!fd.ok()) return fd.error();
  unsigned char raw[kKeyBytes];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    return Internal("the OpenSSL random generator failed; no audit key was made");
  }
  std::string text =
      internal::HexEncode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
  const Secret hex(text);
  WipeBytes(text.data(), text.size());
  WipeBytes(raw, sizeof raw);
  WB_RETURN_IF_ERROR(internal::WriteAll(fd->get(), hex.view(), tmp.string()));
  WB_RETURN_IF_ERROR(internal::WriteAll(fd->get(), "\n", tmp.string()));
  if (::fsync(fd->get()) != 0) return ErrnoStatus(errno, "fsync " + tmp.string());
  return Status::Ok();
}

Result<LoadedKey> CreateKeyFile(const std::filesystem::path& path) {
  WB_RETURN_IF_ERROR(internal::MakeDirs(path.parent_path()));
  unsigned char nonce[8];
  if (RAND_bytes(nonce, sizeof nonce) != 1) {
    return Internal("the OpenSSL random generator failed; no audit key was made");
  }
  std::filesystem::path tmp = path;
  tmp +=
      ".new." + internal::HexEncode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  Status written = WriteNewKey(tmp);
  int linked = -1;
  int err = 0;
  if (written.ok()) {
    linked = ::link(tmp.c_str(), path.c_str());
    err = errno;
  }
  ::unlink(tmp.c_str());
  if (!written.ok()) return written;
  if (linked != 0 && err == EEXIST) return ReadKeyFile(path);  // another process won
  if (linked != 0) return ErrnoStatus(err, "create " + path.string());
  WB_RETURN_IF_ERROR(internal::SyncDir(path.parent_path()));
  auto loaded = ReadKeyFile(path);
  if (loaded.ok()) loaded->created = true;
  return loaded;
}

}  // namespace

Result<LoadedKey> LoadKey(const KeyOptions& options) {
  std::optional<std::filesystem::path> credentials = options.credentials_directory;
  if (!credentials) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at start, nothing sets it.
    if (const char* env = std::getenv("CREDENTIALS_DIRECTORY"); env != nullptr && *env != '\0') {
      credentials = env;
    }
  }
  if (credentials && !credentials->empty()) {
    const std::filesystem::path path = *credentials / options.credential_name;
    if (::access(path.c_str(), F_OK) == 0) return ReadKeyFile(path);
  }
  if (options.key_file.empty()) {
    return InvalidArgument("no audit key: no credential \"" + options.credential_name +
                           "\" and no key_file");
  }
  auto loaded = ReadKeyFile(options.key_file);
  if (loaded.ok() || loaded.error().code() != Code::kNotFound || !options.create_if_missing) {
    return loaded;
  }
  return CreateKeyFile(options.key_file);
}

}  // namespace wb::audit
