#include "agent/request_mapping.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "ldap/dn.h"
#include "policy/policy.h"

namespace wb::agent {
namespace {

bool Has(const std::vector<protocol::Operation>& ops, protocol::Operation op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// The account a target names, as the directory matches it (ldap/dn.h): a DN as its parsed
// RDNs, another identifier in caseIgnoreMatch's form. So " Alice", "ALICE" and "alice" are one
// account for the queue's per-account order and the per-account rate limit, as they are to the
// directory. A DN that does not parse keeps its folded text; the lookup will refuse it.
// A kind this build does not know (a stored request's target_kind) is keyed as an identifier.
std::string AccountKey(std::string_view kind_name, std::string_view value) {
  std::string key(kind_name);
  key.push_back(':');
  if (protocol::ParseTargetKindName(kind_name) == protocol::TargetKind::kDn) {
    if (auto dn = ldap::Dn::Parse(value); dn.ok()) return key + dn->Key();
  }
  return key + ldap::CaseIgnoreForm(value);
}

std::string AccountKey(const protocol::Target& target) {
  return AccountKey(protocol::TargetKindName(target.kind), target.value);
}

// Version 1 (no version recorded) was the requested text as it came; 2 case-folded it; 3 is
// the form above since DN values compare in Unicode's canonical form (ldap/dn.cc: an accent
// written as a combining mark is the precomposed letter, and the letter inside Ș is folded).
// A new version re-keys the stored requests at the next start (queue::Options), so that one
// account's old and new requests keep one key: its order, its rate limits and the check of
// the agent's own earlier write all go by it.
constexpr char kAccountKeyRuleVersion[] = "3";

// Who asked and how they were verified: kept with the request for the audit trail.
std::string RequesterJson(const protocol::Requester& r) {
  return nlohmann::json{{"type", std::string(protocol::RequesterTypeName(r.type))},
                        {"id", r.id},
                        {"verified_by", r.verified_by}}
      .dump();
}

// The requester as RequesterJson stored it; nullopt when the text is not such an object.
std::optional<protocol::Requester> ParseStoredRequester(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return std::nullopt;
  protocol::Requester out;
  const std::string type = j["type"].get<std::string>();
  if (type == protocol::RequesterTypeName(protocol::RequesterType::kAdmin)) {
    out.type = protocol::RequesterType::kAdmin;
  } else if (type == protocol::RequesterTypeName(protocol::RequesterType::kSelf)) {
    out.type = protocol::RequesterType::kSelf;
  } else {
    return std::nullopt;
  }
  if (j.contains("id") && j["id"].is_string()) out.id = j["id"].get<std::string>();
  if (j.contains("verified_by") && j["verified_by"].is_array()) {
    for (const auto& m : j["verified_by"]) {
      if (m.is_string()) out.verified_by.push_back(m.get<std::string>());
    }
  }
  return out;
}

audit::RequesterKind AuditKind(protocol::RequesterType type) {
  switch (type) {
    case protocol::RequesterType::kSelf:
      return audit::RequesterKind::kSelf;
    case protocol::RequesterType::kAdmin:
      return audit::RequesterKind::kAdmin;
  }
  return audit::RequesterKind::kNone;
}

audit::Operation AuditOperation(protocol::Operation op) {
  switch (op) {
    case protocol::Operation::kReset:
      return audit::Operation::kReset;
    case protocol::Operation::kChange:
      return audit::Operation::kChange;
    case protocol::Operation::kUnlock:
      return audit::Operation::kUnlock;
    case protocol::Operation::kRequireChange:
      return audit::Operation::kRequireChange;
    case protocol::Operation::kClearRequireChange:
      return audit::Operation::kClearRequireChange;
    case protocol::Operation::kValidate:
      return audit::Operation::kValidate;
  }
  return audit::Operation::kReset;
}

config::LookupAttribute LookupFor(protocol::TargetKind kind) {
  using config::LookupAttribute;
  switch (kind) {
    case protocol::TargetKind::kUserPrincipalName:
      return LookupAttribute::kUserPrincipalName;
    case protocol::TargetKind::kSamAccountName:
      return LookupAttribute::kSamAccountName;
    case protocol::TargetKind::kUid:
      return LookupAttribute::kUid;
    case protocol::TargetKind::kMail:
      return LookupAttribute::kMail;
    case protocol::TargetKind::kDn:
      return LookupAttribute::kDn;
  }
  return LookupAttribute::kDn;
}

}  // namespace

queue::Options::AccountKeyRule AccountKeyRule() {
  return {.version = kAccountKeyRuleVersion,
          .key_of = [](std::string_view kind, std::string_view target) {
            return AccountKey(kind, target);
          }};
}

queue::Request ToQueueRequest(protocol::VerifiedRequest& verified, int delivery) {
  const auto& c = verified.claims;
  queue::Request r;
  r.info.id = c.id;
  r.info.tenant = c.tenant;
  r.info.correlation_id = c.correlation_id;
  r.info.operations.reset = Has(c.operations, protocol::Operation::kReset);
  r.info.operations.change = Has(c.operations, protocol::Operation::kChange);
  r.info.operations.unlock = Has(c.operations, protocol::Operation::kUnlock);
  r.info.operations.require_change = Has(c.operations, protocol::Operation::kRequireChange);
  r.info.operations.clear_require_change =
      Has(c.operations, protocol::Operation::kClearRequireChange);
  r.info.operations.validate = Has(c.operations, protocol::Operation::kValidate);
  r.info.target = c.target.value;
  r.info.target_kind = std::string(protocol::TargetKindName(c.target.kind));
  // One account, one request at a time, in order (the same identifier, as the directory
  // compares it).
  r.info.account_key = AccountKey(c.target);
  r.info.issued_at = c.issued_at;
  r.info.expires_at = c.expires_at;
  r.info.requester_json = RequesterJson(c.requester);
  r.info.delivery = delivery;
  r.new_password = std::move(verified.passwords.new_password);
  r.old_password = std::move(verified.passwords.old_password);
  return r;
}

std::optional<ldap::Target> ToTarget(const queue::RequestInfo& info) {
  auto kind = protocol::ParseTargetKindName(info.target_kind);
  if (!kind) return std::nullopt;
  return ldap::Target{LookupFor(*kind), info.target};
}

protocol::Requester RequesterOf(const queue::RequestInfo& info) {
  return ParseStoredRequester(info.requester_json).value_or(protocol::Requester{});
}

// The page for an outcome the directory (or the agent's own setup) decided.
protocol::UserAction UserActionFor(ldap::OutcomeCode code) {
  using ldap::OutcomeCode;
  using protocol::UserAction;
  switch (code) {
    case OutcomeCode::kSucceeded:
      return UserAction::kNone;
    case OutcomeCode::kUserNotFound:
    case OutcomeCode::kAmbiguousUser:
    case OutcomeCode::kWrongOldPassword:
      return UserAction::kCouldNotVerify;
    case OutcomeCode::kLookupNotEnabled:
    case OutcomeCode::kOutOfScope:
      return UserAction::kNotEnabled;
    case OutcomeCode::kPolicyTooShort:
    case OutcomeCode::kPolicyTooLong:
    case OutcomeCode::kPolicyInHistory:
    case OutcomeCode::kPolicyComplexity:
    case OutcomeCode::kPolicyUnchanged:
    case OutcomeCode::kPolicyViolation:
      return UserAction::kStrongerPassword;
    case OutcomeCode::kPolicyTooYoung:
    case OutcomeCode::kServiceBindFailed:
    case OutcomeCode::kDirectoryUnavailable:
    case OutcomeCode::kDirectoryTimeout:
    case OutcomeCode::kTlsFailure:
      return UserAction::kTryLater;
    case OutcomeCode::kAccountDisabled:
    case OutcomeCode::kAccessDenied:
    case OutcomeCode::kDirectoryRefused:
    case OutcomeCode::kPolicyChangeNotAllowed:
    case OutcomeCode::kPolicyOldPasswordRequired:
    case OutcomeCode::kHistoryNotEnforceable:
    case OutcomeCode::kNotSupported:
    case OutcomeCode::kInternalError:
      return UserAction::kContactAdmin;
  }
  return UserAction::kContactAdmin;
}

policy::RequestFacts PolicyFactsFor(const queue::RequestInfo& info, WallTime received_at) {
  return {.id = info.id,
          .requester = RequesterOf(info),
          .account_key = info.account_key,
          .received_at = received_at};
}

LogFields LogFieldsFor(const queue::RequestInfo& info, LogEvent event, std::string outcome) {
  return {.event = event,
          .request_id = info.id,
          .outcome = std::move(outcome),
          .directory = "",
          .target = info.target};
}

protocol::UserAction UserActionFor(const queue::Record& record) {
  if (record.state == queue::State::kSucceeded) return protocol::UserAction::kNone;
  const std::string code = record.outcome ? record.outcome->code : "";
  if (auto denial = policy::ParseCode(code)) return policy::UserActionFor(*denial);
  if (auto outcome = ldap::ParseOutcomeName(code)) return UserActionFor(*outcome);
  // The queue's own ends: no time was left (a passing problem outlived the request), or the
  // stored secret could not be read back (the agent's fault).
  if (record.state == queue::State::kExpired) return protocol::UserAction::kTryLater;
  return protocol::UserAction::kContactAdmin;
}

ldap::PasswordChange ToChange(const queue::Work& work) {
  const auto& ops = work.record.info.operations;
  ldap::PasswordChange change;
  if (ops.change) {
    change.password = ldap::PasswordChange::Password::kChange;
    change.old_password = &work.old_password;
  } else if (ops.reset) {
    change.password = ldap::PasswordChange::Password::kReset;
  }
  if (WritesPassword(ops)) change.new_password = &work.new_password;
  change.unlock = ops.unlock;
  if (ops.require_change) change.must_change = ldap::PasswordChange::MustChange::kRequire;
  if (ops.clear_require_change) change.must_change = ldap::PasswordChange::MustChange::kClear;
  return change;
}

std::vector<protocol::Operation> OperationsOf(const queue::Operations& ops) {
  std::vector<protocol::Operation> out;
  if (ops.reset) out.push_back(protocol::Operation::kReset);
  if (ops.change) out.push_back(protocol::Operation::kChange);
  if (ops.unlock) out.push_back(protocol::Operation::kUnlock);
  if (ops.require_change) out.push_back(protocol::Operation::kRequireChange);
  if (ops.clear_require_change) out.push_back(protocol::Operation::kClearRequireChange);
  if (ops.validate) out.push_back(protocol::Operation::kValidate);
  return out;
}

std::string OperationsLabel(const queue::Operations& ops) {
  std::string out;
  for (protocol::Operation op : OperationsOf(ops)) {
    if (!out.empty()) out += '+';
    out += protocol::OperationName(op);
  }
  return out.empty() ? "none" : out;
}

bool WritesPassword(const queue::Operations& ops) { return ops.reset || ops.change; }

bool WritesPasswordAlone(const queue::Operations& ops) {
  return WritesPassword(ops) && !ops.unlock && !ops.require_change && !ops.clear_require_change;
}

ldap::PasswordChange RestAfterFoundPassword(const queue::Operations& ops,
                                            const ldap::Account& account, bool after_own_attempt) {
  ldap::PasswordChange rest;
  rest.unlock = ops.unlock;
  if (ops.require_change) {
    rest.must_change = ldap::PasswordChange::MustChange::kRequire;
  } else if (ops.clear_require_change ||
             (after_own_attempt && account.must_change_password && account.reset_may_leave_mark)) {
    rest.must_change = ldap::PasswordChange::MustChange::kClear;
  }
  return rest;
}

bool HasParts(const ldap::PasswordChange& change) {
  return change.password != ldap::PasswordChange::Password::kKeep || change.unlock ||
         change.must_change != ldap::PasswordChange::MustChange::kLeave;
}

std::optional<audit::Requester> ParseRequester(const std::string& requester_json) {
  auto r = ParseStoredRequester(requester_json);
  if (!r) return std::nullopt;
  return audit::Requester{AuditKind(r->type), r->id, r->verified_by};
}

std::string OutcomeMessage(const ldap::Outcome& outcome) {
  if (outcome.ok()) return outcome.note;
  std::string out = outcome.reason;
  if (!outcome.diagnostic.empty()) {
    if (!out.empty()) out += ' ';
    out.append("[").append(outcome.diagnostic).append("]");
  }
  return out;
}

audit::Event AuditEventFor(audit::EventType type, const queue::RequestInfo& info) {
  audit::Event e;
  e.type = type;
  e.request_id = info.id;
  e.correlation_id = info.correlation_id;
  e.tenant = info.tenant;
  for (protocol::Operation op : OperationsOf(info.operations)) {
    e.operations.push_back(AuditOperation(op));
  }
  e.target.requested = info.target;
  e.requester = ParseRequester(info.requester_json).value_or(audit::Requester{});
  return e;
}

bool EndedByQueue(const queue::Record& record) {
  switch (record.state) {
    case queue::State::kExpired:
      return true;
    case queue::State::kFailed:
      return record.outcome && record.outcome->code == queue::kSecretUnreadable;
    case queue::State::kReceived:
    case queue::State::kReady:
    case queue::State::kApplying:
    case queue::State::kSucceeded:
    case queue::State::kRejected:
      return false;
  }
  return false;
}

audit::Event QueueEndAuditEvent(const queue::Record& record) {
  const bool expired = record.state == queue::State::kExpired;
  audit::Event e = AuditEventFor(
      expired ? audit::EventType::kRequestExpired : audit::EventType::kDirectoryWrite, record.info);
  e.outcome = record.outcome ? record.outcome->code : std::string(queue::StateName(record.state));
  // Why it expired; an unreadable password is its own reason.
  if (expired && !record.last_error_code.empty()) e.reasons = {record.last_error_code};
  if (record.outcome) {
    e.server = record.outcome->server;
    e.detail = record.outcome->message;
  }
  return e;
}

// `rejected`: the directory's own rules refused the password (the user may try another);
// `failed`: anything else. Every code listed (no default, no test of the name's prefix): a new
// code must be placed on purpose (-Wswitch).
queue::State TerminalStateFor(const ldap::Outcome& outcome) {
  using ldap::OutcomeCode;
  switch (outcome.code) {
    case OutcomeCode::kSucceeded:
      return queue::State::kSucceeded;
    case OutcomeCode::kPolicyTooShort:
    case OutcomeCode::kPolicyTooLong:
    case OutcomeCode::kPolicyInHistory:
    case OutcomeCode::kPolicyTooYoung:
    case OutcomeCode::kPolicyComplexity:
    case OutcomeCode::kPolicyUnchanged:
    case OutcomeCode::kPolicyChangeNotAllowed:
    case OutcomeCode::kPolicyOldPasswordRequired:
    case OutcomeCode::kPolicyViolation:
    case OutcomeCode::kWrongOldPassword:
    case OutcomeCode::kHistoryNotEnforceable:
      return queue::State::kRejected;
    case OutcomeCode::kUserNotFound:
    case OutcomeCode::kAmbiguousUser:
    case OutcomeCode::kLookupNotEnabled:
    case OutcomeCode::kOutOfScope:
    case OutcomeCode::kAccountDisabled:
    case OutcomeCode::kAccessDenied:
    case OutcomeCode::kDirectoryRefused:
    case OutcomeCode::kServiceBindFailed:
    case OutcomeCode::kDirectoryUnavailable:
    case OutcomeCode::kDirectoryTimeout:
    case OutcomeCode::kTlsFailure:
    case OutcomeCode::kNotSupported:
    case OutcomeCode::kInternalError:
      return queue::State::kFailed;
  }
  return queue::State::kFailed;
}

std::vector<std::string> OutcomeCodes() {
  std::vector<std::string> codes;
  const auto add = [&codes](std::string_view name) {
    if (std::find(codes.begin(), codes.end(), name) == codes.end()) codes.emplace_back(name);
  };
  for (int c = 0; c <= static_cast<int>(ldap::kLastOutcomeCode); ++c) {
    add(ldap::OutcomeName(static_cast<ldap::OutcomeCode>(c)));
  }
  for (int c = 0; c <= static_cast<int>(policy::kLastCode); ++c) {
    add(policy::CodeName(static_cast<policy::Code>(c)));
  }
  for (int c = 0; c <= static_cast<int>(protocol::kLastRejectCode); ++c) {
    add(protocol::RejectCodeName(static_cast<protocol::RejectCode>(c)));
  }
  add(queue::StateName(queue::State::kExpired));
  add(queue::kSecretUnreadable);
  return codes;
}

}  // namespace wb::agent
