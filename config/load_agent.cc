#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {

void LoadAgent(TableReader& root, const LoadContext& ctx, AgentConfig& out) {
  std::optional<TableReader> agent = OpenTable(root, "agent", Presence::kRequired);
  if (!agent) return;
  if (auto id = agent->GetString("id", Presence::kRequired)) {
    if (Expect(*agent, *id, CheckIdentifier(id->value))) out.id = id->value;
  }
  if (auto dir = GetPath(*agent, "state_dir", Presence::kOptional, ctx)) {
    Expect(*agent, *dir, CheckCreatableDirectory(dir->value));
    out.state_dir = dir->value;
  }
  agent->ReportUnknownKeys();
}

}  // namespace wb::config::internal
