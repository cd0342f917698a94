#pragma once
// Conversions between the protocol's, the queue's, the directory's and the audit trail's
// views of one request (internal to agent/). Each is a pure function.

#include <string>
#include <vector>

#include "agent/logging.h"
#include "audit/audit.h"
#include "ldap/directory.h"
#include "policy/policy.h"
#include "protocol/protocol.h"
#include "queue/queue.h"

namespace wb::agent {

// The queue's request for a verified envelope and the cloud's delivery count; the passwords
// move into it.
queue::Request ToQueueRequest(protocol::VerifiedRequest& verified, int delivery);

// How the queue keys accounts (queue::Options::account_key_rule): the key ToQueueRequest gives
// a target, from a stored request's target_kind and target, and the rule's version. Change
// the version whenever the key of some target changes, so that a queue stored before is
// re-keyed when it opens.
queue::Options::AccountKeyRule AccountKeyRule();

// The directory's target for a stored request; nullopt when target_kind is unknown.
std::optional<ldap::Target> ToTarget(const queue::RequestInfo& info);

// Who asked and how they were verified, from the stored requester_json (the queue keeps it
// opaque). A record without one reads as a self-service requester with no id and no methods.
protocol::Requester RequesterOf(const queue::RequestInfo& info);

// What the policy knows of a stored request (its id, requester, account key and arrival).
policy::RequestFacts PolicyFactsFor(const queue::RequestInfo& info, WallTime received_at);

// A request's log fields (agent/logging.h): the target as the request names it, unescaped,
// since a journal field holds any bytes.
LogFields LogFieldsFor(const queue::RequestInfo& info, LogEvent event, std::string outcome);

// The page the cloud shows the end user for a finished request (docs/protocol.md, "User
// actions"): from its outcome code, whichever component decided it.
protocol::UserAction UserActionFor(const queue::Record& record);

// The page for an outcome the directory (or the agent's own setup) decided.
protocol::UserAction UserActionFor(ldap::OutcomeCode code);

// The directory change for a taken request. The Secrets stay owned by `work`.
ldap::PasswordChange ToChange(const queue::Work& work);

// The operations of a stored request, in the protocol's order (their names:
// protocol::OperationName).
std::vector<protocol::Operation> OperationsOf(const queue::Operations& ops);
// The same joined with '+' ("reset+unlock"), for a metric's label; "none" when there is none.
std::string OperationsLabel(const queue::Operations& ops);

// True when the request writes a password (reset or change).
bool WritesPassword(const queue::Operations& ops);
// A password write with nothing else (no unlock, no must-change flag): the directory's password
// timestamp alone tells whether it landed.
bool WritesPasswordAlone(const queue::Operations& ops);

// What a request whose password was found applied still writes: its unlock and its must-change
// flag (password kKeep). On OpenLDAP they are writes of their own after the password, which an
// attempt cut short may not have reached; they are idempotent. A password write without a flag
// leaves the user free to keep the password (ldap::PasswordChange), so after this agent's own
// earlier attempt (`after_own_attempt`), an account that still shows must-change on a directory
// whose reset may leave that mark itself (Account::reset_may_leave_mark: OpenLDAP sets pwdReset
// on an administrator's reset under pwdMustChange, and the agent clears it after) is owed the
// clear too. Not on AD, nor after another agent's or someone else's change: the mark may then
// be an administrator's, set since. Nothing to write: HasParts is false.
ldap::PasswordChange RestAfterFoundPassword(const queue::Operations& ops,
                                            const ldap::Account& account, bool after_own_attempt);
bool HasParts(const ldap::PasswordChange& change);

// The audit event's request fields (id, correlation, tenant, operations, target, requester).
audit::Event AuditEventFor(audit::EventType type, const queue::RequestInfo& info);

// Whether the queue ended this request itself, in its own commit, before anything recorded
// it: an expiry (Maintain, Retry), or a stored password that did not decrypt (Take). Every
// other end is recorded before the queue commits it.
bool EndedByQueue(const queue::Record& record);

// The audit record of such an end (its record, terminal): request_expired for an expiry, with
// the last error as the reason (when an attempt failed); directory_write with outcome
// secret_unreadable for a password that did not decrypt (the attempt ended before the
// directory was written). The request's fields, the outcome code, the queue's message as the
// detail.
audit::Event QueueEndAuditEvent(const queue::Record& record);

// The queue's message for an outcome (queue::Outcome::message, and the result's note or
// reason): a success's note, else the reason and the server's diagnostic. Not the code: the
// queue and the result carry it beside the message, and `queue show` prints it once.
std::string OutcomeMessage(const ldap::Outcome& outcome);

// The requester as ToQueueRequest stored it (RequestInfo::requester_json); nullopt when the
// text is not such a JSON object.
std::optional<audit::Requester> ParseRequester(const std::string& requester_json);

// Every outcome code a request can end with, each once: the directory's (ldap::OutcomeName),
// the policy's (policy::CodeName), the envelope checks' (protocol::RejectCodeName) and the
// queue's own (its expiry, queue::kSecretUnreadable). The log's WBAGENT_OUTCOME and the
// message catalog use these names.
std::vector<std::string> OutcomeCodes();

// succeeded, rejected (the directory's rules said no) or failed (anything else permanent).
queue::State TerminalStateFor(const ldap::Outcome& outcome);

}  // namespace wb::agent
