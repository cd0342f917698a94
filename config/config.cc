// LoadConfig: reads the file, parses it with toml11, and walks the result section by section.
// toml11 reports problems by throwing; this file is the one boundary where its exceptions (and
// any other) are caught and turned into ConfigErrors.

#include "config/config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <toml.hpp>

#include "common/log_escape.h"
#include "config/internal/sections.h"

namespace wb::config {
namespace {

namespace fs = std::filesystem;
using internal::Diagnostics;

// A config file is a few kilobytes; anything near this is not one.
constexpr off_t kMaxConfigBytes = 1 << 20;

ConfigError FileError(const std::string& file, std::string problem) {
  return ConfigError{.file = file, .key = "", .problem = std::move(problem)};
}

// The file's bytes, or the reason they cannot be had.
struct FileText {
  std::string text;
  std::optional<ConfigError> error;
};

FileText ReadConfigFile(const fs::path& path, const std::string& display) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return {"", FileError(display, "does not exist")};
    // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc returns static strings
    return {"", FileError(display, std::string("cannot be read: ") + std::strerror(err))};
  }
  if (!S_ISREG(st.st_mode)) return {"", FileError(display, "is not a regular file")};
  if (st.st_size > kMaxConfigBytes) return {"", FileError(display, "is larger than 1 MiB")};
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return {"", FileError(display, "cannot be read")};
  return {text.str(), std::nullopt};
}

// toml11's message reads "[error] toml::parse_array: missing array separator...\n --> file\n"
// followed by an excerpt of the file. The position comes from the exception's
// source_location; from the message only the first line's description is kept.
std::string SyntaxProblem(std::string_view what) {
  std::string_view line = what.substr(0, what.find('\n'));
  if (line.starts_with("[error] ")) line.remove_prefix(8);
  if (line.starts_with("toml::")) {
    const std::size_t colon = line.find(": ");
    if (colon != std::string_view::npos) line.remove_prefix(colon + 2);
  }
  // Escaped: the description may quote bytes of the file.
  return "syntax error: " + EscapeForLog(line);
}

ConfigError FromSyntaxError(const toml::syntax_error& e, const std::string& display) {
  const toml::source_location& loc = e.location();
  return ConfigError{.file = display,
                     .line = static_cast<int>(loc.line()),
                     .column = static_cast<int>(loc.column()),
                     .key = "",
                     .problem = SyntaxProblem(e.what())};
}

Config Walk(const toml::value& root, const fs::path& file, const LoadOptions& options,
            Diagnostics& diag) {
  Config config;
  config.file = file;
  const internal::LoadContext ctx{.config_dir = file.parent_path(), .options = options};
  internal::TableReader reader(root, "", diag);
  internal::LoadAgent(reader, ctx, config.agent);
  internal::LoadCloud(reader, ctx, config.cloud);
  internal::LoadDirectories(reader, ctx, config.directories);
  internal::LoadPolicy(reader, ctx, config.policy);
  internal::LoadQueue(reader, config.queue);
  internal::LoadAudit(reader, ctx, config.agent, config.audit);
  internal::LoadLog(reader, config.log);
  internal::LoadMetrics(reader, config.metrics);
  reader.ReportUnknownKeys();
  if (diag.empty()) internal::WarnPrivilegedRulesWithoutMethods(root, config, diag);
  return config;
}

Result<Config, ConfigErrors> LoadOrThrow(const fs::path& file, const std::string& display,
                                         const LoadOptions& options) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec).lexically_normal();
  if (ec) return ConfigErrors{FileError(display, "cannot be located: " + ec.message())};
  FileText text = ReadConfigFile(absolute, display);
  if (text.error) return ConfigErrors{*text.error};
  std::istringstream stream(text.text);
  const toml::value root = toml::parse(stream, display);
  Diagnostics diag(display);
  Config config = Walk(root, absolute, options, diag);
  if (!diag.empty()) return std::move(diag).Take();
  config.warnings = diag.TakeWarnings();
  return config;
}

}  // namespace

Result<Config, ConfigErrors> LoadConfig(const fs::path& file) { return LoadConfig(file, {}); }

Result<Config, ConfigErrors> LoadConfig(const fs::path& file, const LoadOptions& options) {
  const std::string display = file.string();
  try {
    return LoadOrThrow(file, display, options);
  } catch (const toml::syntax_error& e) {
    return ConfigErrors{FromSyntaxError(e, display)};
  } catch (const std::exception& e) {
    // A bug (the walker never calls a throwing toml11 accessor) or std::bad_alloc.
    return ConfigErrors{FileError(display, std::string("internal error: ") + e.what())};
  } catch (...) {
    return ConfigErrors{FileError(display, "internal error: unknown exception")};
  }
}

}  // namespace wb::config
