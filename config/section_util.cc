#include <string>

#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {

std::optional<TableReader> OpenTable(TableReader& parent, std::string_view key, Presence presence) {
  const toml::value* value = parent.Get(key, Presence::kOptional);
  if (value == nullptr) {
    if (presence == Presence::kRequired) {
      parent.diag().Add(parent.where(), parent.KeyPath(key),
                        "missing required table [" + parent.KeyPath(key) + "]");
    }
    return std::nullopt;
  }
  if (!value->is_table()) {
    parent.diag().Add(LocationOf(*value), parent.KeyPath(key),
                      "expected a table, found " + std::string(TypeName(value->type())));
    return std::nullopt;
  }
  return TableReader(*value, parent.KeyPath(key), parent.diag());
}

std::optional<Field<std::filesystem::path>> GetPath(TableReader& table, std::string_view key,
                                                    Presence presence, const LoadContext& ctx) {
  std::optional<Field<std::string>> text = table.GetString(key, presence);
  if (!text) return std::nullopt;
  if (text->value.empty()) {
    table.diag().Add(text->at, text->key, "must not be empty");
    return std::nullopt;
  }
  if (text->value.find('\0') != std::string::npos) {
    table.diag().Add(text->at, text->key, "must not contain a NUL character");
    return std::nullopt;
  }
  return Field<std::filesystem::path>{ResolvePath(ctx.config_dir, text->value), text->at,
                                      text->key};
}

Problem CheckSecret(const LoadContext& ctx, const std::filesystem::path& path) {
  if (ctx.options.secrets == SecretChecks::kSkip) return std::nullopt;
  return CheckSecretFile(path);
}

Problem CheckSecretIfExists(const LoadContext& ctx, const std::filesystem::path& path) {
  if (ctx.options.secrets == SecretChecks::kSkip) return std::nullopt;
  return CheckSecretFileIfExists(path);
}

}  // namespace wb::config::internal
