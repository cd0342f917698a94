// The stable wire names of the protocol's enumerations.
#include <array>
#include <utility>

#include "protocol/protocol.h"

namespace wb::protocol {
namespace {

constexpr std::array<std::pair<RejectCode, std::string_view>, 13> kRejectCodes{{
    {RejectCode::kBadSignature, "bad_signature"},
    {RejectCode::kUnknownKid, "unknown_kid"},
    {RejectCode::kBadAlgorithm, "bad_algorithm"},
    {RejectCode::kExpired, "expired"},
    {RejectCode::kNotYetValid, "not_yet_valid"},
    {RejectCode::kReplayed, "replayed"},
    {RejectCode::kTooLarge, "too_large"},
    {RejectCode::kMalformed, "malformed"},
    {RejectCode::kWrongTenant, "wrong_tenant"},
    {RejectCode::kWrongAudience, "wrong_audience"},
    {RejectCode::kDecryptFailed, "decrypt_failed"},
    {RejectCode::kQueueFull, "queue_full"},
    {RejectCode::kUnavailable, "unavailable"},
}};

}  // namespace

std::string_view RejectCodeName(RejectCode code) {
  for (const auto& [c, name] : kRejectCodes) {
    if (c == code) return name;
  }
  return "malformed";
}

std::optional<RejectCode> ParseRejectCode(std::string_view name) {
  for (const auto& [c, n] : kRejectCodes) {
    if (n == name) return c;
  }
  return std::nullopt;
}

std::string_view OperationName(Operation op) {
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
  return "";
}

std::optional<Operation> ParseOperationName(std::string_view name) {
  for (Operation op :
       {Operation::kReset, Operation::kChange, Operation::kUnlock, Operation::kRequireChange,
        Operation::kClearRequireChange, Operation::kValidate}) {
    if (OperationName(op) == name) return op;
  }
  return std::nullopt;
}

std::optional<TargetKind> ParseTargetKindName(std::string_view name) {
  for (TargetKind kind : {TargetKind::kUserPrincipalName, TargetKind::kSamAccountName,
                          TargetKind::kUid, TargetKind::kMail, TargetKind::kDn}) {
    if (TargetKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::string_view TargetKindName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kUserPrincipalName:
      return "userPrincipalName";
    case TargetKind::kSamAccountName:
      return "sAMAccountName";
    case TargetKind::kUid:
      return "uid";
    case TargetKind::kMail:
      return "mail";
    case TargetKind::kDn:
      return "dn";
  }
  return "";
}

std::string_view UserActionName(UserAction action) {
  switch (action) {
    case UserAction::kNone:
      return "none";
    case UserAction::kContactAdmin:
      return "contact_admin";
    case UserAction::kNotEnabled:
      return "not_enabled";
    case UserAction::kCouldNotVerify:
      return "could_not_verify";
    case UserAction::kStrongerPassword:
      return "stronger_password";
    case UserAction::kTryLater:
      return "try_later";
  }
  return "";
}

std::optional<UserAction> ParseUserAction(std::string_view name) {
  for (UserAction a :
       {UserAction::kNone, UserAction::kContactAdmin, UserAction::kNotEnabled,
        UserAction::kCouldNotVerify, UserAction::kStrongerPassword, UserAction::kTryLater}) {
    if (UserActionName(a) == name) return a;
  }
  return std::nullopt;
}

std::string_view RequesterTypeName(RequesterType type) {
  return type == RequesterType::kAdmin ? "admin" : "self";
}

}  // namespace wb::protocol
