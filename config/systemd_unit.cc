#include "config/internal/systemd_unit.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>

#include "config/config.h"

namespace wb::config {

std::vector<std::filesystem::path> LoadOptions::DefaultUnitPath() {
  return {"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
          "/usr/lib/systemd/system", "/lib/systemd/system"};
}

namespace {

// $SYSTEMD_UNIT_PATH as systemd reads it: a trailing ':' (an empty last entry) appends the
// default path; other empty entries are ignored.
std::vector<std::filesystem::path> UnitPathFrom(std::string_view text) {
  std::vector<std::filesystem::path> path;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = text.find(':', start);
    const std::string_view entry = text.substr(start, colon - start);
    if (colon == std::string_view::npos) {
      if (entry.empty()) {
        for (auto& dir : LoadOptions::DefaultUnitPath()) path.push_back(std::move(dir));
      } else {
        path.emplace_back(entry);
      }
      return path;
    }
    if (!entry.empty()) path.emplace_back(entry);
    start = colon + 1;
  }
}

}  // namespace

LoadOptions LoadOptions::FromEnvironment(SecretChecks secrets) {
  LoadOptions options;
  options.secrets = secrets;
  // NOLINTBEGIN(concurrency-mt-unsafe): read once, before any thread starts
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr) {
    options.credentials_directory = dir;
  }
  if (const char* path = std::getenv("SYSTEMD_UNIT_PATH"); path != nullptr && *path != '\0') {
    options.unit_path = UnitPathFrom(path);
  }
  // NOLINTEND(concurrency-mt-unsafe)
  return options;
}

}  // namespace wb::config

namespace wb::config::internal {
namespace {

namespace fs = std::filesystem;

bool IsFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// Applies one file's LoadCredential= lines for `name` to `found`.
void ReadUnitFile(const fs::path& file, std::string_view name,
                  std::optional<CredentialSource>& found) {
  std::ifstream in(file);
  std::string line;
  bool in_service = false;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    if (text.front() == '[') {
      in_service = text == "[Service]";
      continue;
    }
    const auto eq = text.find('=');
    if (!in_service || eq == std::string_view::npos) continue;
    if (Trim(text.substr(0, eq)) != "LoadCredential") continue;
    const std::string_view value = Trim(text.substr(eq + 1));
    if (value.empty()) {
      found.reset();  // an empty assignment resets the list
      continue;
    }
    const auto colon = value.find(':');
    if (value.substr(0, colon) != name) continue;
    const std::string_view source =
        colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
    found = CredentialSource{.source = std::string(source), .unit_file = file, .line = number};
  }
}

// The drop-ins for `unit_name`, in the order systemd applies them.
std::vector<fs::path> DropIns(const std::vector<fs::path>& unit_path, std::string_view unit_name) {
  std::map<std::string, fs::path> by_name;  // sorted by file name; the first directory wins
  for (const fs::path& dir : unit_path) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir / (std::string(unit_name) + ".d"), ec)) {
      if (entry.path().extension() == ".conf" && IsFile(entry.path())) {
        by_name.emplace(entry.path().filename().string(), entry.path());
      }
    }
  }
  std::vector<fs::path> files;
  for (auto& [file_name, path] : by_name) files.push_back(path);
  return files;
}

std::string Joined(const std::vector<fs::path>& paths) {
  std::string text;
  for (const fs::path& p : paths) {
    if (!text.empty()) text += ", ";
    text += p.string();
  }
  return text;
}

}  // namespace

Result<CredentialSource, std::string> FindLoadCredential(const std::vector<fs::path>& unit_path,
                                                         std::string_view unit_name,
                                                         std::string_view name) {
  const auto dir = std::ranges::find_if(
      unit_path, [&](const fs::path& d) { return IsFile(d / std::string(unit_name)); });
  if (dir == unit_path.end()) {
    std::string problem = "no ";
    problem.append(unit_name).append(" is installed in ").append(Joined(unit_path));
    return problem;
  }
  const fs::path unit_file = *dir / std::string(unit_name);
  std::optional<CredentialSource> found;
  ReadUnitFile(unit_file, name, found);
  const std::vector<fs::path> drop_ins = DropIns(unit_path, unit_name);
  for (const fs::path& drop_in : drop_ins) ReadUnitFile(drop_in, name, found);
  if (found) return *found;
  std::string problem = unit_file.string();
  if (!drop_ins.empty()) problem.append(" and its drop-ins (").append(Joined(drop_ins)).append(")");
  problem.append(drop_ins.empty() ? " names" : " name").append(" no LoadCredential=");
  problem.append(name).append(":PATH");
  return problem;
}

}  // namespace wb::config::internal
