#pragma once
// Internal to config/: one loader per section of the file. Each reads its table through a
// TableReader (so unknown keys and type errors are reported uniformly), applies the checks
// that belong to its keys, and fills its part of the Config. A loader never stops at the
// first problem: it reports and goes on, leaving the default in place of a bad value.

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/internal/toml_reader.h"
#include "config/internal/validate.h"

namespace wb::config::internal {

struct LoadContext {
  std::filesystem::path config_dir;  // absolute; relative paths resolve against it
  const LoadOptions& options;
};

void LoadAgent(TableReader& root, const LoadContext& ctx, AgentConfig& out);
void LoadCloud(TableReader& root, const LoadContext& ctx, CloudConfig& out);
void LoadDirectories(TableReader& root, const LoadContext& ctx, std::vector<DirectoryConfig>& out);
void LoadPolicy(TableReader& root, const LoadContext& ctx, PolicyConfig& out);
// [directory.scope], [directory.admin_scope], [directory.password] and
// [directory.password.admin] of one [[directory]] (load_policy.cc).
void LoadScopes(TableReader& dir, std::optional<DirectoryKind> kind, const LoadContext& ctx,
                DirectoryConfig& out);
// After a load without problems: warns of a scope whose allow_protected or privileged_groups
// needs a privileged method that the verification table serving it does not name (every such
// request is then denied). `root` is the file's table, `config` what was loaded from it.
void WarnPrivilegedRulesWithoutMethods(const toml::value& root, const Config& config,
                                       Diagnostics& diag);
void LoadQueue(TableReader& root, QueueConfig& out);
// Needs the loaded agent section: the audit files default to places under state_dir.
void LoadAudit(TableReader& root, const LoadContext& ctx, const AgentConfig& agent,
               AuditConfig& out);
void LoadLog(TableReader& root, LogConfig& out);
void LoadMetrics(TableReader& root, MetricsConfig& out);

// What the checks across directories need from one [[directory]], with positions.
struct DirectoryRoutes {
  Location at;      // the [[directory]] header
  std::string key;  // "directory[2]"
  std::optional<Field<std::string>> name;
  std::vector<Field<std::string>> upn_suffixes;  // valid ones, lower-cased
  std::vector<Field<std::string>> base_dns;      // valid ones, as written
};

// Unique names; with two or more directories, a route for each and no route to two.
void CheckDirectoryRoutes(const std::vector<DirectoryRoutes>& routes, Diagnostics& diag);

// Helpers the loaders share.

// A reader for the table under `key`, or nullopt when it is absent (reported if required)
// or not a table (reported).
std::optional<TableReader> OpenTable(TableReader& parent, std::string_view key, Presence presence);

// A path-valued key, resolved against the config directory. Empty strings are reported.
std::optional<Field<std::filesystem::path>> GetPath(TableReader& table, std::string_view key,
                                                    Presence presence, const LoadContext& ctx);

// CheckSecretFile and CheckSecretFileIfExists (files.h), or no problem when the options say
// that secrets are not examined.
Problem CheckSecret(const LoadContext& ctx, const std::filesystem::path& path);
Problem CheckSecretIfExists(const LoadContext& ctx, const std::filesystem::path& path);

// Reports `problem`, if any, against `field`. Returns true when there was none.
template <typename T>
bool Expect(TableReader& table, const Field<T>& field, const Problem& problem) {
  if (problem) table.diag().Add(field.at, field.key, *problem);
  return !problem;
}

}  // namespace wb::config::internal
