// The config loader (config::LoadConfig) on any file: it must return a Config or errors,
// never crash, and never throw past its boundary. The input is written to wbagent.toml in a
// scratch folder that also holds the files the seeds name (CA files, a password file, a
// client key), so that a valid seed loads and mutations reach every check, not only the
// "file does not exist" ones.
//
// Properties (config.h): errors come sorted by line and column, at least one; none is an
// "internal error" (an exception the loader caught: a bug in the walker); and every line of
// the output is one line, so peer-controlled text cannot forge check-config output.
#include <sys/stat.h>

#include <algorithm>

#include "config/config.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using wb::fuzz::Require;

const std::filesystem::path& ConfigFile() {
  static const std::filesystem::path file = [] {
    const std::filesystem::path& dir = wb::fuzz::ScratchDir();
    for (const char* name :
         {"ca.pem", "cloud-ca.pem", "corp-ca.pem", "research-ca.pem", "research-client.pem"}) {
      wb::fuzz::WriteFile(dir / name, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    }
    // Secret files must be 0600 (CheckSecretFilePermissions).
    for (const char* name : {"bind.password", "corp-bind.password", "research-client.key"}) {
      wb::fuzz::WriteFile(dir / name, "not-a-real-secret\n");
      if (::chmod((dir / name).c_str(), 0600) != 0) wb::fuzz::SetupFailed("chmod");
    }
    return dir / "wbagent.toml";
  }();
  return file;
}

bool OneLine(const std::string& text) {
  return std::none_of(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; });
}

void CheckErrors(const wb::config::ConfigErrors& errors) {
  Require(!errors.empty(), "LoadConfig failed without an error");
  Require(std::is_sorted(errors.begin(), errors.end(),
                         [](const auto& a, const auto& b) {
                           return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                         }),
          "config errors are not sorted by line and column");
  for (const wb::config::ConfigError& error : errors) {
    Require(!error.problem.starts_with("internal error"),
            "LoadConfig caught an exception (an internal error)");
    Require(OneLine(error.ToString()), "a config error spans several lines");
  }
}

void CheckConfig(const wb::config::Config& config) {
  Require(!config.directories.empty(), "a loaded config has no directory");
  Require(config.file.is_absolute() && config.agent.state_dir.is_absolute() &&
              config.audit.file.is_absolute() && config.audit.key_file.is_absolute(),
          "a loaded config holds a relative path");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)ConfigFile();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wb::fuzz::WriteFile(ConfigFile(), wb::fuzz::AsText(data, size));
  auto loaded = wb::config::LoadConfig(ConfigFile());
  if (loaded.ok()) {
    CheckConfig(*loaded);
  } else {
    CheckErrors(loaded.error());
  }
  return 0;
}
