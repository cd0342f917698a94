// The sections about the agent's own operation: queue, audit, log, metrics.

#include "config/internal/enum_names.h"
#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {

void LoadQueue(TableReader& root, QueueConfig& out) {
  std::optional<TableReader> queue = OpenTable(root, "queue", Presence::kOptional);
  if (!queue) return;
  auto pending = queue->GetInteger("max_pending", Presence::kOptional, 1, 1'000'000);
  if (pending) out.max_pending = static_cast<int>(pending->value);
  auto in_flight = queue->GetInteger("max_in_flight", Presence::kOptional, 1, 1024);
  if (in_flight) out.max_in_flight = static_cast<int>(in_flight->value);
  if (in_flight && out.max_in_flight > out.max_pending) {
    queue->diag().Add(
        in_flight->at, in_flight->key,
        "must not be greater than max_pending (" + std::to_string(out.max_pending) + ")");
  }
  if (auto hours = queue->GetInteger("retention", Presence::kOptional, 1, 8760, "hours")) {
    out.retention = std::chrono::hours(hours->value);
  }
  queue->ReportUnknownKeys();
}

void LoadAudit(TableReader& root, const LoadContext& ctx, const AgentConfig& agent,
               AuditConfig& out) {
  out.file = agent.state_dir / "audit" / "audit.jsonl";
  out.key_file = agent.state_dir / "audit.key";
  // The defaults are checked too (a leftover audit key that others can read is as bad in the
  // default place as anywhere else); a problem with a default is reported at the [audit]
  // header, or at line 1 when there is no [audit] table.
  std::optional<TableReader> audit = OpenTable(root, "audit", Presence::kOptional);
  Location file_at = audit ? audit->where() : Location{1, 1};
  Location key_at = file_at;
  if (audit) {
    if (auto file = GetPath(*audit, "file", Presence::kOptional, ctx)) {
      out.file = file->value;
      file_at = file->at;
    }
    if (auto key = GetPath(*audit, "key_file", Presence::kOptional, ctx)) {
      out.key_file = key->value;
      key_at = key->at;
    }
    auto size = audit->GetInteger("rotate_size_mb", Presence::kOptional, 1, 65536, "MiB");
    if (size) out.rotate_size_mb = static_cast<int>(size->value);
    audit->ReportUnknownKeys();
  }
  if (Problem p = CheckNotADirectory(out.file)) root.diag().Add(file_at, "audit.file", *p);
  if (Problem p = CheckSecretIfExists(ctx, out.key_file)) {
    root.diag().Add(key_at, "audit.key_file", *p);
  }
}

void LoadLog(TableReader& root, LogConfig& out) {
  std::optional<TableReader> log = OpenTable(root, "log", Presence::kOptional);
  if (!log) return;
  if (auto level = log->GetEnum("level", kLogLevelNames, Presence::kOptional)) {
    out.level = level->value;
  }
  if (auto format = log->GetEnum("format", kLogFormatNames, Presence::kOptional)) {
    out.format = format->value;
  }
  log->ReportUnknownKeys();
}

void LoadMetrics(TableReader& root, MetricsConfig& out) {
  std::optional<TableReader> metrics = OpenTable(root, "metrics", Presence::kOptional);
  if (!metrics) return;
  if (auto listen = metrics->GetString("listen", Presence::kOptional)) {
    Result<HostPort, std::string> address = ParseLoopbackListen(listen->value);
    if (address.ok()) {
      out.listen = *address;
    } else {
      metrics->diag().Add(listen->at, listen->key, address.error());
    }
  }
  metrics->ReportUnknownKeys();
}

}  // namespace wb::config::internal
