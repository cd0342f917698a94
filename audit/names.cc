// The stable names of the record's enumerations. They are part of the file format: add new
// names, never change one.
#include <array>
#include <utility>

#include "audit/audit.h"

namespace wb::audit {
namespace {

constexpr std::array<std::pair<EventType, std::string_view>, 16> kEventNames = {{
    {EventType::kRequestReceived, "request_received"},
    {EventType::kRequestRejected, "request_rejected"},
    {EventType::kPolicyDecision, "policy_decision"},
    {EventType::kDirectoryWrite, "directory_write"},
    {EventType::kRequestExpired, "request_expired"},
    {EventType::kResultSent, "result_sent"},
    {EventType::kResultAcknowledged, "result_acknowledged"},
    {EventType::kConfigLoaded, "config_loaded"},
    {EventType::kConfigRejected, "config_rejected"},
    {EventType::kAgentStarted, "agent_started"},
    {EventType::kAgentStopped, "agent_stopped"},
    {EventType::kKeyRotated, "key_rotated"},
    {EventType::kAuditRecovered, "audit_recovered"},
    {EventType::kWitnessRefused, "witness_refused"},
    {EventType::kChainStarted, "chain_started"},
    {EventType::kPasswordValidated, "password_validated"},
}};

}  // namespace

std::string_view Name(EventType type) {
  for (const auto& [value, name] : kEventNames) {
    if (value == type) return name;
  }
  return "unknown";
}

std::optional<EventType> ParseEventType(std::string_view name) {
  for (const auto& [value, n] : kEventNames) {
    if (n == name) return value;
  }
  return std::nullopt;
}

std::optional<Decision> ParseDecision(std::string_view name) {
  for (Decision d : {Decision::kAllow, Decision::kDeny, Decision::kWouldDeny, Decision::kHold}) {
    if (Name(d) == name) return d;
  }
  return std::nullopt;
}

std::string_view Name(Operation op) {
  switch (op) {
    case Operation::kReset:
      return "reset";
    case Operation::kChange:
      return "change";
    case Operation::kUnlock:
      return "unlock";
    case Operation::kRequireChange:
      return "require_change";
    case Operation::kClearRequireChange:
      return "clear_require_change";
    case Operation::kValidate:
      return "validate";
  }
  return "unknown";
}

std::string_view Name(RequesterKind kind) {
  switch (kind) {
    case RequesterKind::kNone:
      return "";
    case RequesterKind::kSelf:
      return "self";
    case RequesterKind::kAdmin:
      return "admin";
  }
  return "";
}

std::string_view Name(Decision decision) {
  switch (decision) {
    case Decision::kNone:
      return "";
    case Decision::kAllow:
      return "allow";
    case Decision::kDeny:
      return "deny";
    case Decision::kWouldDeny:
      return "would_deny";
    case Decision::kHold:
      return "hold";
  }
  return "";
}

std::string_view Name(Problem problem) {
  switch (problem) {
    case Problem::kMalformed:
      return "malformed";
    case Problem::kNotCanonical:
      return "not_canonical";
    case Problem::kBadHmac:
      return "bad_hmac";
    case Problem::kBadStart:
      return "bad_start";
    case Problem::kGap:
      return "gap";
    case Problem::kOutOfOrder:
      return "out_of_order";
    case Problem::kBrokenLink:
      return "broken_link";
    case Problem::kMissingFile:
      return "missing_file";
    case Problem::kTornTail:
      return "torn_tail";
    case Problem::kTruncated:
      return "truncated";
    case Problem::kCheckpointMismatch:
      return "checkpoint_mismatch";
    case Problem::kCheckpointInvalid:
      return "checkpoint_invalid";
    case Problem::kCheckpointMissing:
      return "checkpoint_missing";
    case Problem::kWitnessMissing:
      return "witness_missing";
    case Problem::kWitnessReplaced:
      return "witness_replaced";
    case Problem::kWitnessForged:
      return "witness_forged";
  }
  return "unknown";
}

std::string_view Name(WitnessCheck check) {
  switch (check) {
    case WitnessCheck::kHeld:
      return "held";
    case WitnessCheck::kMissing:
      return "missing";
    case WitnessCheck::kReplaced:
      return "replaced";
    case WitnessCheck::kForged:
      return "forged";
  }
  return "unknown";
}

Durability DefaultDurability(EventType type) {
  switch (type) {
    case EventType::kRequestReceived:
    case EventType::kResultSent:
    case EventType::kResultAcknowledged:
      return Durability::kBuffered;
    default:
      return Durability::kDurable;
  }
}

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "table") return Format::kTable;
  if (name == "json") return Format::kJson;
  if (name == "csv") return Format::kCsv;
  return std::nullopt;
}

}  // namespace wb::audit
