// Intake: Enqueue, RememberNonce and EnqueueAll, all through group commit.

#include <string>

#include "queue/sealed_passwords.h"
#include "queue/sqlite_queue.h"

namespace wb::queue {

namespace {

constexpr std::size_t kMaxIdBytes = 128;

Status ValidateRequest(const Request& r) {
  const RequestInfo& i = r.info;
  if (i.id.empty() || i.id.size() > kMaxIdBytes) {
    return InvalidArgument("request id must be 1 to " + std::to_string(kMaxIdBytes) + " bytes");
  }
  if (i.account_key.empty()) return InvalidArgument(QuoteId(i.id) + " has no account key");
  if (!AnyOperation(i.operations)) return InvalidArgument(QuoteId(i.id) + " has no operation");
  if (i.delivery < 1) return InvalidArgument(QuoteId(i.id) + " has a delivery count below 1");
  const bool uses_password = i.operations.reset || i.operations.change || i.operations.validate;
  if (uses_password == r.new_password.empty()) {
    return InvalidArgument(QuoteId(i.id) + (uses_password
                                                ? " sets or checks a password but carries none"
                                                : " carries a new password it does not use"));
  }
  if (i.operations.change == r.old_password.empty()) {
    return InvalidArgument(QuoteId(i.id) + (i.operations.change
                                                ? " changes a password but has no old one"
                                                : " carries an old password but is no change"));
  }
  return Status::Ok();
}

Result<bool> IsRemembered(Db& db, std::int64_t kind, std::string_view value) {
  Result<Stmt> stmt = db.Prepare("SELECT 1 FROM replay WHERE kind = ?1 AND value = ?2");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, kind).Bind(2, value);
  return stmt->Step();
}

// Returns whether the value was new.
Result<bool> Remember(Db& db, std::int64_t kind, std::string_view value,
                      std::int64_t forget_after) {
  Result<Stmt> stmt =
      db.Prepare("INSERT OR IGNORE INTO replay (kind, value, forget_after) VALUES (?1, ?2, ?3)");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, kind).Bind(2, value).Bind(3, forget_after).Run());
  return db.Changes() == 1;
}

Status InsertRow(Db& db, const RequestInfo& i, const std::string& blob, std::int64_t now) {
  Result<Stmt> stmt = db.Prepare(
      "INSERT INTO requests (id, tenant, correlation_id, operations, target, target_kind, "
      "account_key, requester, issued_at, expires_at, state, attempts, received_at, "
      "not_before, secret, delivery) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, ?11, ?11, ?12, ?13)");
  if (!stmt.ok()) return stmt.error();
  return stmt->Bind(1, i.id)
      .Bind(2, i.tenant)
      .Bind(3, i.correlation_id)
      .Bind(4, OperationBits(i.operations))
      .Bind(5, i.target)
      .Bind(6, i.target_kind)
      .Bind(7, i.account_key)
      .Bind(8, i.requester_json)
      .Bind(9, ToMillis(i.issued_at))
      .Bind(10, ToMillis(i.expires_at))
      .Bind(11, now)
      .BindBlob(12, blob)
      .Bind(13, static_cast<std::int64_t>(i.delivery))
      .Run();
}

}  // namespace

struct SqliteQueue::EnqueueSlot {
  const RequestInfo* info;
  std::string blob;               // sealed passwords; empty when none
  std::optional<Status> refusal;  // a refusal meant for this caller alone
  std::optional<EnqueueResult> result;
};

Result<EnqueueResult> SqliteQueue::Enqueue(const Request& request) {
  WB_RETURN_IF_ERROR(RequireWritable());
  WB_RETURN_IF_ERROR(ValidateRequest(request));
  const std::string& id = request.info.id;
  Result<std::string> blob =
      SealPasswords(*parts_.key, id, request.new_password, request.old_password);
  if (!blob.ok()) return blob.error();
  EnqueueSlot slot{&request.info, std::move(blob).value()};
  Status own;
  Status s = committer_.Run([&](Db& db) {
    return RunIsolated(db, &own, [&](Db& in) { return InsertInBatch(in, slot); });
  });
  if (s.ok()) s = own;
  if (!s.ok()) return s.WithContext("not accepted: " + QuoteId(id));
  if (slot.refusal) return *slot.refusal;
  return std::move(*slot.result);
}

Status SqliteQueue::InsertInBatch(Db& db, EnqueueSlot& slot) {
  const RequestInfo& info = *slot.info;
  const std::int64_t now = NowMs();
  Result<std::optional<Record>> existing = LoadRecord(db, info.id);
  if (!existing.ok()) return existing.error();
  if (*existing) {
    slot.result = EnqueueResult{std::move(**existing), false};
    return Status::Ok();
  }
  Result<bool> replayed = IsRemembered(db, kReplayRequestId, info.id);
  if (!replayed.ok()) return replayed.error();
  if (*replayed) {
    slot.refusal = Status(Code::kAlreadyExists, QuoteId(info.id) +
                                                    " was processed before and its record purged;"
                                                    " refusing it as a replay");
    return Status::Ok();
  }
  if (ToMillis(info.expires_at) <= now) {
    slot.refusal = FailedPrecondition(QuoteId(info.id) + " has already expired");
    return Status::Ok();
  }
  Result<std::int64_t> unfinished = db.QueryInt("SELECT count(*) FROM requests WHERE state < 3");
  if (!unfinished.ok()) return unfinished.error();
  if (*unfinished >= static_cast<std::int64_t>(options_.max_pending)) {
    slot.refusal = Status(Code::kResourceExhausted,
                          "queue is full (max_pending = " + std::to_string(options_.max_pending) +
                              " unfinished requests); " + QuoteId(info.id) + " was not accepted");
    return Status::Ok();
  }
  // The row remembers its id (a unique key) for as long as it exists; the purge hands that
  // memory to the replay table (Purge, outbox.cc). A replay row written here as well would
  // cost each request two more random b-tree writes for nothing.
  WB_RETURN_IF_ERROR(InsertRow(db, info, slot.blob, now));
  WB_RETURN_IF_ERROR(AppendHistory(db, info.id, now, "received"));
  std::optional<Record> stored;
  WB_RETURN_IF_ERROR(LoadInto(db, info.id, stored));
  slot.result = EnqueueResult{std::move(*stored), true};
  return Status::Ok();
}

Status SqliteQueue::RememberInBatch(Db& db, std::string_view nonce, WallTime expires_at,
                                    bool* fresh) {
  const std::int64_t forget_after = ToMillis(expires_at + options_.clock_skew);
  Result<bool> r = Remember(db, kReplayNonce, nonce, forget_after);
  if (!r.ok()) return r.error();
  *fresh = *r;
  return Status::Ok();
}

Result<bool> SqliteQueue::RememberNonce(std::string_view nonce, WallTime expires_at) {
  WB_RETURN_IF_ERROR(RequireWritable());
  if (nonce.empty()) return InvalidArgument("empty nonce");
  bool fresh = false;
  Status own;
  Status s = committer_.Run([&](Db& db) {
    return RunIsolated(db, &own,
                       [&](Db& in) { return RememberInBatch(in, nonce, expires_at, &fresh); });
  });
  if (s.ok()) s = own;
  if (!s.ok()) return s.WithContext("remembering a nonce");
  return fresh;
}

Result<bool> SqliteQueue::IsNonceRemembered(std::string_view nonce) {
  return Read([&](Db& db) { return IsRemembered(db, kReplayNonce, nonce); });
}

Result<bool> SqliteQueue::IsNonceRememberedWithPrefix(std::string_view prefix) {
  // A range of the primary key (kind, value), whose text compares as bytes: from `prefix` up
  // to the first value after all that begin with it (its last byte below 0xFF, one up).
  std::string after(prefix);
  while (!after.empty() && static_cast<unsigned char>(after.back()) == 0xFF) after.pop_back();
  if (!after.empty())
    after.back() = static_cast<char>(static_cast<unsigned char>(after.back()) + 1);
  return Read([&](Db& db) -> Result<bool> {
    Result<Stmt> stmt =
        after.empty()
            ? db.Prepare("SELECT 1 FROM replay WHERE kind = ?1 AND value >= ?2 LIMIT 1")
            : db.Prepare(
                  "SELECT 1 FROM replay WHERE kind = ?1 AND value >= ?2 AND value < ?3 LIMIT 1");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, kReplayNonce).Bind(2, prefix);
    if (!after.empty()) stmt->Bind(3, after);
    return stmt->Step();
  });
}

Result<bool> SqliteQueue::HoldsRequest(std::string_view id) {
  return Read([&](Db& db) -> Result<bool> {
    // One statement on the request path: stored, or remembered after its purge.
    Result<Stmt> stmt = db.Prepare(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE id = ?1) "
        "OR EXISTS (SELECT 1 FROM replay WHERE kind = ?2 AND value = ?1)");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, id).Bind(2, kReplayRequestId);
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.error();
    return *row && stmt->Int(0) != 0;
  });
}

Result<std::vector<Result<EnqueueResult>>> SqliteQueue::EnqueueAll(
    std::span<const NonceToRemember> nonces, std::span<const Request* const> requests) {
  WB_RETURN_IF_ERROR(RequireWritable());
  for (const NonceToRemember& n : nonces) {
    if (n.nonce.empty()) return InvalidArgument("empty nonce");
  }
  // Checked and sealed before the transaction: a request that is refused here is refused alone.
  std::vector<Result<EnqueueResult>> results(requests.size(), Internal("not stored"));
  std::vector<EnqueueSlot> slots;
  std::vector<std::size_t> slot_of;  // the request index of each slot
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Request& request = *requests[i];
    if (Status s = ValidateRequest(request); !s.ok()) {
      results[i] = s;
      continue;
    }
    Result<std::string> blob =
        SealPasswords(*parts_.key, request.info.id, request.new_password, request.old_password);
    if (!blob.ok()) {
      results[i] = blob.error();
      continue;
    }
    slots.push_back(EnqueueSlot{&request.info, std::move(blob).value()});
    slot_of.push_back(i);
  }
  // The whole intake is one step of the group (other callers' changes are not undone when it
  // fails), and each request a step of its own within it (one request's failure is its own).
  Status own;
  Status s = committer_.Run([&](Db& db) {
    return RunIsolated(db, &own, [&](Db& in) -> Status {
      bool fresh = false;
      for (const NonceToRemember& n : nonces) {
        WB_RETURN_IF_ERROR(RememberInBatch(in, n.nonce, n.expires_at, &fresh));
      }
      for (EnqueueSlot& slot : slots) {
        Status failed;
        WB_RETURN_IF_ERROR(
            RunIsolated(in, &failed, [&](Db& one) { return InsertInBatch(one, slot); }));
        if (!failed.ok()) slot.refusal = failed;
      }
      return Status::Ok();
    });
  });
  if (s.ok()) s = own;
  if (!s.ok())
    return s.WithContext("a batch of " + std::to_string(requests.size()) +
                         " request(s) was not accepted");
  for (std::size_t k = 0; k < slots.size(); ++k) {
    EnqueueSlot& slot = slots[k];
    if (slot.refusal) {
      results[slot_of[k]] = *slot.refusal;
    } else {
      results[slot_of[k]] = std::move(*slot.result);
    }
  }
  return results;
}

}  // namespace wb::queue
