#pragma once
// The wbagent channel protocol, v1: the messages agent and cloud exchange, the keys they use,
// and the signed, encrypted request envelope. docs/protocol.md is the specification; this
// header is its C++ contract, shared by the agent (channel/, `wbagent register`) and by the
// reference cloud endpoint (tools/wbcloud/).
//
// Nothing here does I/O except EcPrivateKey::Load/Save. Every function is thread-safe for
// distinct arguments; the classes are not internally synchronised (ReplayGuard implementations
// say their own rules).
//
// Errors: functions that check input from a peer return a Status whose message is safe to log:
// it never contains a secret, and any peer text in it went through wb::EscapeForLog.
// OpenSSL errors are converted to Status here, once; callers never see ERR_get_error().

#include <openssl/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::protocol {

// ---------------------------------------------------------------------------------------------
// Constants of protocol v1.

inline constexpr int kVersion = 1;
inline constexpr std::string_view kSubprotocol = "wbagent.v1";  // Sec-WebSocket-Protocol
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;      // one JSON text frame
inline constexpr std::size_t kMaxEnvelopeBytes = 16 * 1024;     // the compact JWS
inline constexpr std::chrono::seconds kDefaultMaxSkew{120};
inline constexpr std::chrono::seconds kMaxRequestLifetime{15 * 60};  // exp - iat
inline constexpr int kMaxCredits = 1024;                 // = config queue.max_in_flight bound
inline constexpr std::size_t kMaxUnackedResults = 1000;  // ids listed in one hello
inline constexpr int kMaxDelivery = 1000;                // `request.delivery` bound
inline constexpr std::size_t kMaxPasswordBytes = 1024;   // UTF-8, per password

// JWS "typ" values: a request envelope and a signed key set can never be taken for each other.
inline constexpr std::string_view kRequestTyp = "wbagent-request+jwt";
inline constexpr std::string_view kKeySetTyp = "wbagent-keyset+jwt";

// ---------------------------------------------------------------------------------------------
// Rejection codes: why the agent refused an envelope (the `rejected` message). Stable.

enum class RejectCode {
  kBadSignature,   // "bad_signature": the ES256 signature does not verify
  kUnknownKid,     // "unknown_kid": the JWS kid is not in the pinned cloud key set
  kBadAlgorithm,   // "bad_algorithm": alg (or JWE alg/enc) not on the allow-list
  kExpired,        // "expired": exp + skew has passed
  kNotYetValid,    // "not_yet_valid": iat or nbf beyond now + skew
  kReplayed,       // "replayed": the id or the nonce was seen with a different request
  kTooLarge,       // "too_large": message > 64 KiB or envelope > 16 KiB
  kMalformed,      // "malformed": encoding, JSON, schema or claim-consistency error
  kWrongTenant,    // "wrong_tenant": tenant is not the enrolled tenant
  kWrongAudience,  // "wrong_audience": aud is not this agent's id
  kDecryptFailed,  // "decrypt_failed": the JWE is not for this agent's key or was altered
  kQueueFull,      // "queue_full": the agent has no room (sent by the channel, not OpenRequest)
  kUnavailable,    // "unavailable": the agent could not consult its replay memory; retry later
};
inline constexpr RejectCode kLastRejectCode = RejectCode::kUnavailable;

// The stable wire name, e.g. "bad_signature".
std::string_view RejectCodeName(RejectCode code);
// The inverse; nullopt for an unknown name.
std::optional<RejectCode> ParseRejectCode(std::string_view name);

struct Rejection {
  RejectCode code;
  // One line for the `rejected` message, the audit trail and the log. Never holds a secret;
  // peer text in it is escaped.
  std::string reason;
  // The request id (jti) as claimed by the envelope (ClaimedRequestId before the signature
  // verified, the signed jti after); empty when none could be read. Always safe to echo back in
  // `rejected`; trust it only when id_authenticated.
  std::string request_id;
  // The envelope's signature verified, so `request_id` is the signed jti. False: anyone on the
  // path could have claimed that id; do not attribute the rejection to that request.
  bool id_authenticated = false;
};

// The request id an envelope claims, read without trusting anything, for `rejected.id` and
// for counting requests in flight (docs/protocol.md section 4, "rejected"): the jti of an
// envelope of at most kMaxEnvelopeBytes with three dot-separated parts whose second part
// decodes (base64url) to a JSON object in which "jti" occurs exactly once, as a lowercase
// UUID; whatever else is wrong with the envelope. Empty otherwise. Never throws.
std::string ClaimedRequestId(std::string_view envelope);

// ---------------------------------------------------------------------------------------------
// Channel messages. One JSON object per WebSocket text frame; every object has "type" and
// "v": 1. Times are integer Unix seconds on the wire and WallTime (whole seconds) here.

// The head of the agent's audit trail as an external witness keeps it (docs/protocol.md
// section 4, "audit_head"; docs/audit.md, "The witness"): the last durable record's seq, the
// SHA-256 of its line and an HMAC under the audit key that only the agent can make. The cloud
// cannot check the HMAC; it keeps the highest head it was sent and hands it back in welcome.
struct AuditHead {
  std::uint64_t seq = 0;  // 0..kMaxAuditSeq; 0 with a zero hash: an empty trail
  std::string hash;       // 64 lowercase hex
  std::string hmac;       // 64 lowercase hex
  bool operator==(const AuditHead&) const = default;
};
// The largest seq on the wire: 2^53 - 1, exact in every JSON implementation.
inline constexpr std::uint64_t kMaxAuditSeq = (std::uint64_t{1} << 53) - 1;

// agent -> cloud, first message after the WebSocket handshake.
struct Hello {
  std::string agent_id;
  std::string version;  // the agent's software version
  int credits = 0;      // requests the agent will take in flight, 0..kMaxCredits
  std::vector<std::string> unacked_results;  // request ids; at most kMaxUnackedResults
};

// cloud -> agent, answer to hello.
struct Welcome {
  std::string tenant;
  WallTime server_time;
  // The highest audit head the cloud was ever sent by this agent since it enrolled; omitted
  // when none. The agent refuses to go on when its trail does not hold it.
  std::optional<AuditHead> audit_head;
};

// agent -> cloud: the durable head of the agent's audit trail, sent only after the agent
// accepted a welcome (so a trail the witness caught can never raise the witness), then whenever
// it moved; the cloud keeps the highest one (never a lower one) per agent.
struct AuditHeadMessage {
  AuditHead head;
};

// cloud -> agent: one request envelope (a compact JWS, see OpenRequest).
struct Request {
  std::string envelope;
  // How many times the cloud has delivered this request, this time included, not counting
  // deliveries refused with queue_full / unavailable (1..kMaxDelivery; omitted when 1). Above 1 the
  // request may already have been applied by an agent that then vanished, so the agent checks the
  // directory before writing a password. Not signed: the mutually authenticated channel vouches for
  // it, and the cloud is trusted with it. A wrong value widens the check: a change by someone else
  // since `iat` would then count as this request's write.
  int delivery = 1;
};

// agent -> cloud: the request is durably queued.
struct Accepted {
  std::string id;
};

// agent -> cloud: an envelope check failed; nothing was written.
struct Rejected {
  std::string id;  // empty when unknown (omitted on the wire)
  RejectCode code = RejectCode::kMalformed;
  std::string reason;
};

// What the cloud shows the end user for an outcome: one of the self-service reset pages.
// Every outcome code maps to exactly one (docs/protocol.md, "User actions"); the cloud picks
// the page from this, never from the outcome's text.
enum class UserAction {
  kNone,              // "none": it worked; nothing to do
  kContactAdmin,      // "contact_admin": someone else manages this password, or it is protected
  kNotEnabled,        // "not_enabled": the account is not enabled for password reset
  kCouldNotVerify,    // "could_not_verify": we could not verify the account
  kStrongerPassword,  // "stronger_password": try again with a stronger password
  kTryLater,          // "try_later": a passing problem; try again later
};
std::string_view UserActionName(UserAction action);
std::optional<UserAction> ParseUserAction(std::string_view name);

// agent -> cloud: the final outcome of a request; re-sent until result_ack.
struct ResultMessage {
  std::string id;
  std::string outcome;  // stable code, see docs/troubleshooting.md, [a-z0-9_]{1,64}
  std::string reason;   // may be empty (omitted on the wire)
  std::string note;     // may be empty (omitted on the wire)
  WallTime completed_at;
  // The page for the end user. Required on the wire from this agent; a cloud that reads a
  // result without it (an older agent) treats it as kContactAdmin.
  UserAction user_action = UserAction::kContactAdmin;
};

// cloud -> agent: the result was stored; stop re-sending it.
struct ResultAck {
  std::string id;
};

// agent -> cloud: flow-control update: the number of requests the agent will take in flight.
struct Credits {
  int credits = 0;
};

// cloud -> agent: signing-key rollover; a compact JWS over the new key set (see VerifyKeySet).
struct KeySet {
  std::string jwks_jws;
};

// agent -> cloud: certificate renewal; a PEM CSR.
struct Renew {
  std::string csr;
};

// cloud -> agent: the renewed certificate; a PEM chain, leaf first.
struct Certificate {
  std::string certificate;
};

// either way: a protocol-level error. Codes: docs/protocol.md ("error" message), e.g.
// "unsupported_version", "bad_message", "unknown_agent", "internal".
struct ErrorMessage {
  std::string code;  // [a-z0-9_]{1,64}
  std::string message;
};

// agent -> cloud: the password rules each directory applies, for the user's reset page, so
// that the user is told them before typing (docs/protocol.md section 4, "policy_summary").
// Sent after every welcome and again whenever it changes; the cloud keeps the latest. Only
// the agent's configured rules and the directory's own policy as read: no account, no secret.
struct PasswordRulesSummary {        // one table of the agent's own rules ([policy.password], ...)
  int min_length = 0;                // 0: none; 0..kMaxSummaryLength
  int max_length = 0;                // 0: none
  int min_classes = 0;               // of upper, lower, digit, symbol, other; 0..5
  std::string forbidden_characters;  // UTF-8, each code point refused; 0..kMaxForbiddenBytes
  int max_repeated = 0;              // the longest run of one character allowed; 0: no limit
  bool not_same_as_old = false;      // a change may not keep the old password
  bool no_name_parts = false;        // no token of the user's names (AD's rule)
  bool banned_words = false;         // a banned-words list is checked (the terms are not sent)
  bool breached = false;             // a breached-password list is checked
  bool enforced = true;              // false: log-only; the agent reports but does not refuse
  bool operator==(const PasswordRulesSummary&) const = default;
};
struct DirectoryRulesSummary {  // the directory's own default policy (domain or ppolicy)
  int min_length = 0;
  int max_length = 0;       // 0: none
  bool complexity = false;  // AD complexity, or OpenLDAP pwdCheckQuality > 0
  int history_length = 0;   // 0..kMaxSummaryHistory
  std::chrono::seconds min_age{0};
  bool operator==(const DirectoryRulesSummary&) const = default;
};
struct DirectorySummary {
  std::string name;                       // the directory's configured name
  std::vector<std::string> upn_suffixes;  // which users it serves (lower case; may be empty)
  // Omitted when the agent could not read it (the directory was down, or the policy entry
  // is not readable); the agent reads it again and sends a new summary when it can.
  std::optional<DirectoryRulesSummary> directory;
  PasswordRulesSummary self;   // for self-service requests
  PasswordRulesSummary admin;  // for admin requests
  bool operator==(const DirectorySummary&) const = default;
};
struct PolicySummary {
  std::vector<DirectorySummary> directories;  // 1..kMaxSummaryDirectories, names unique
  bool operator==(const PolicySummary&) const = default;
};
inline constexpr std::size_t kMaxSummaryDirectories = 64;
inline constexpr std::size_t kMaxSummarySuffixes = 64;
inline constexpr int kMaxSummaryLength = 1024;
inline constexpr int kMaxSummaryHistory = 1024;
inline constexpr std::size_t kMaxForbiddenBytes = 1024;

using Message =
    std::variant<Hello, Welcome, Request, Accepted, Rejected, ResultMessage, ResultAck, Credits,
                 KeySet, Renew, Certificate, ErrorMessage, AuditHeadMessage, PolicySummary>;

// Parses one frame strictly: at most kMaxMessageBytes, one JSON object, no duplicate keys,
// "v" == 1, a known "type", every field of that type present with its JSON type and bounds,
// and no other field. Errors:
//   kResourceExhausted  - larger than kMaxMessageBytes (reject with too_large)
//   kFailedPrecondition - "v" is an integer other than 1 (answer error "unsupported_version")
//   kInvalidArgument    - anything else (reject with malformed / answer error "bad_message")
// Use RejectCodeForParseError to pick the rejection for a frame that was meant as a request.
Result<Message> ParseMessage(std::string_view json);
RejectCode RejectCodeForParseError(const Status& parse_error);

// The "type" of a frame, best effort, for logging and for deciding whether a frame that failed
// ParseMessage was a request; empty when it cannot be read. Never throws.
std::string MessageTypeOf(std::string_view json);

// Compact JSON for each message. REQUIRES: fields within the bounds ParseMessage checks
// (Serialize does not check them; a peer would refuse the frame).
std::string Serialize(const Hello& m);
std::string Serialize(const Welcome& m);
std::string Serialize(const Request& m);
std::string Serialize(const Accepted& m);
std::string Serialize(const Rejected& m);
std::string Serialize(const ResultMessage& m);
std::string Serialize(const ResultAck& m);
std::string Serialize(const Credits& m);
std::string Serialize(const KeySet& m);
std::string Serialize(const Renew& m);
std::string Serialize(const Certificate& m);
std::string Serialize(const ErrorMessage& m);
std::string Serialize(const AuditHeadMessage& m);
std::string Serialize(const PolicySummary& m);
std::string Serialize(const Message& m);

// ---------------------------------------------------------------------------------------------
// Keys. Only EC P-256 is used: ES256 signatures, ECDH-ES key agreement, TLS client keys.

// A public key as a JWK (RFC 7517): kty "EC", crv "P-256", x and y base64url (32 bytes each).
struct Jwk {
  std::string kid;  // our own keys: the RFC 7638 thumbprint; peer keys: any 1..128 printable
  std::string x;
  std::string y;
  std::string use;  // "sig", "enc" or empty (omitted)
  std::string alg;  // "ES256", "ECDH-ES" or empty (omitted)
};

// RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC key: over {"crv","kty","x","y"}.
std::string Thumbprint(const Jwk& jwk);

// Parses one public JWK strictly: members kty ("EC"), crv ("P-256"), x, y, kid (required);
// use, alg (optional, with the values above); any other member - a private "d" above all -
// is refused. x/y must decode to 32 bytes each and name a point on the curve.
Result<Jwk> ParseJwk(std::string_view json);
std::string SerializeJwk(const Jwk& jwk);

// A key set {"keys": [JWK...]}; kids are unique; at most 16 keys.
struct Jwks {
  std::vector<Jwk> keys;
  // The key with this kid, or nullptr. Compares kids in constant time for equal lengths.
  const Jwk* Find(std::string_view kid) const;
};
Result<Jwks> ParseJwks(std::string_view json);
std::string SerializeJwks(const Jwks& jwks);

// The cloud's request-signing keys with each key parsed (its point decoded and checked, an
// EVP_PKEY made) once, when the set is made, for OpenRequest: per envelope that parsing costs
// about as much as the signature check itself. Immutable; copies share the parsed keys, and
// OpenSSL lets any number of threads verify with one key at once.
class TrustedKeys {
 public:
  TrustedKeys() = default;
  // A key that does not parse is kept with its error: an envelope that names it is refused
  // (unknown_kid) with that error, as when each envelope parsed its key.
  explicit TrustedKeys(Jwks jwks);
  const Jwks& jwks() const { return jwks_; }
  // The parsed key of jwks().keys[index], or why it did not parse. REQUIRES index in range.
  Result<EVP_PKEY*> PublicKey(std::size_t index) const;

 private:
  Jwks jwks_;
  std::vector<Result<std::shared_ptr<EVP_PKEY>>> keys_;  // by index: the key, or why not
};

// A P-256 private key. Move-only; the EVP_PKEY is freed (and its secret scalar cleansed by
// OpenSSL) on destruction.
class EcPrivateKey {
 public:
  // A fresh key from the OpenSSL default RNG.
  static Result<EcPrivateKey> Generate();
  // PEM: PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY", unencrypted. REQUIRES curve P-256.
  static Result<EcPrivateKey> FromPem(std::string_view pem);
  // Reads a key file with wb::ReadSecretFile: refused (kPermissionDenied) when group or others
  // may access it, or when owned by another user.
  static Result<EcPrivateKey> Load(const std::filesystem::path& path);

  EcPrivateKey(EcPrivateKey&&) noexcept;
  EcPrivateKey& operator=(EcPrivateKey&&) noexcept;
  ~EcPrivateKey();

  // Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), as TLS libraries read it.
  Secret ToPem() const;
  // Writes ToPem() to `path` created with mode 0600 (via a temporary file in the same
  // directory, fsync and rename, so a crash leaves the old file or the new one). An existing
  // file is replaced.
  Status Save(const std::filesystem::path& path) const;

  // The public half. kid = Thumbprint; `use` and `alg` as given ("sig"/"ES256" for a signing
  // key, "enc"/"ECDH-ES" for an encryption key; empty strings omit them).
  Jwk PublicJwk(std::string_view use = "", std::string_view alg = "") const;

  // The OpenSSL key, for a CSR (X509_REQ_sign) or an SSL context. Owned by this object.
  EVP_PKEY* native() const { return pkey_.get(); }

 private:
  struct Free {
    void operator()(EVP_PKEY* p) const;
  };
  explicit EcPrivateKey(EVP_PKEY* pkey);
  std::unique_ptr<EVP_PKEY, Free> pkey_;
  // The public half without use and alg, derived once: every request's JWE names the key by
  // its kid, and deriving it (coordinates, base64url, SHA-256) cost 3% of the intake's CPU.
  Jwk public_;
};

// ---------------------------------------------------------------------------------------------
// Signed key set (signing-key rollover): a compact JWS, header
// {"alg":"ES256","kid":<signer>,"typ":"wbagent-keyset+jwt"}, payload
// {"tenant": ..., "iat": <unix s>, "keys": [JWK...]}.

Result<std::string> SignKeySet(const Jwks& keys, std::string_view tenant, WallTime issued_at,
                               const EcPrivateKey& signing_key, std::string_view signing_kid);

struct VerifiedKeySet {
  Jwks keys;
  WallTime issued_at;
  std::string signed_by;  // kid of the trusted key that signed it
};

// Verifies a signed key set against the currently trusted keys: ES256 only, typ as above, kid
// in `trusted`, signature, strict payload, tenant == expected_tenant, iat <= now + max_skew,
// and iat > `newer_than` when given (the iat of the set in use: an old set replayed is refused).
// The new set must hold at least one key. Errors: kPermissionDenied (signature, unknown kid,
// tenant, stale iat), kInvalidArgument (malformed), kFailedPrecondition (iat in the future).
Result<VerifiedKeySet> VerifyKeySet(std::string_view jws, const Jwks& trusted,
                                    std::string_view expected_tenant, const Clock& clock,
                                    std::chrono::seconds max_skew,
                                    std::optional<WallTime> newer_than);

// ---------------------------------------------------------------------------------------------
// The request envelope.
//
// A compact JWS, header exactly {"alg":"ES256","kid":<cloud signing kid>,"typ":
// "wbagent-request+jwt"}, over the claims below. The passwords travel in "secret": a compact
// JWE, header {"alg":"ECDH-ES","enc":"A256GCM","kid":<agent encryption kid>,"epk":<JWK>}
// (optionally "apu"/"apv"), plaintext {"new_password": ..., "old_password"?: ...}.

enum class Operation {
  kReset,
  kChange,
  kUnlock,
  kRequireChange,
  kClearRequireChange,
  // Asks whether the secret's new_password would be accepted for the target, and writes
  // nothing: the agent's own password rules and the directory's rules it can check without
  // writing (docs/protocol.md, "validate"). Always alone.
  kValidate,
};
// "reset", "change", "unlock", "require_change", "clear_require_change", "validate".
std::string_view OperationName(Operation op);
// The inverse of OperationName; nullopt for any other text.
std::optional<Operation> ParseOperationName(std::string_view name);

enum class TargetKind { kUserPrincipalName, kSamAccountName, kUid, kMail, kDn };
// "userPrincipalName", "sAMAccountName", "uid", "mail", "dn".
std::string_view TargetKindName(TargetKind kind);
// The inverse of TargetKindName; nullopt for any other text.
std::optional<TargetKind> ParseTargetKindName(std::string_view name);

enum class RequesterType { kSelf, kAdmin };
std::string_view RequesterTypeName(RequesterType type);  // "self", "admin"

struct Target {
  TargetKind kind = TargetKind::kUserPrincipalName;
  std::string value;  // UTF-8, 1..1024 bytes, no control characters
};

struct Requester {
  RequesterType type = RequesterType::kSelf;
  std::string id;                        // 1..256 bytes, no control characters
  std::vector<std::string> verified_by;  // methods, each [a-z0-9_.:-]{1,64}; at most 16
};

// The JWS payload minus "secret". Rules (checked by OpenRequest, assumed by SealRequest):
// - id: a UUID (8-4-4-4-12 hex, lowercase); nonce: base64url, 22..128 characters (>= 128 bits);
// - tenant, audience: 1..128 printable ASCII; correlation_id: 0..256 printable ASCII;
// - operations: 1..5 distinct; not both reset and change; not both require_change and
//   clear_require_change; validate only alone; reset, change or validate <=> a secret is
//   present; change <=> old_password;
// - iat <= nbf (when present) < exp, and exp - iat <= kMaxRequestLifetime.
struct RequestClaims {
  std::string id;                      // "jti"
  std::string tenant;                  // "tenant"
  std::string audience;                // "aud": the agent id
  WallTime issued_at;                  // "iat"
  std::optional<WallTime> not_before;  // "nbf"
  WallTime expires_at;                 // "exp"
  std::string nonce;                   // "nonce"
  std::vector<Operation> operations;   // "op"
  Target target;                       // "target"
  Requester requester;                 // "requester"
  std::string correlation_id;          // "correlation_id"
};

struct Passwords {
  Secret new_password;
  Secret old_password;  // empty unless the operations include change
};

// A fresh random UUID v4 and a fresh nonce (32 random bytes, base64url), for the cloud side.
// Empty only if the RNG fails (SealRequest then refuses the claims).
std::string NewRequestId();
std::string NewNonce();

// Cloud side: builds the envelope. `passwords` is null for requests without reset/change.
// The JWE is encrypted to `agent_encryption_key` with a fresh ephemeral key and IV; every
// buffer that held the plaintext is wiped. Errors: kInvalidArgument when the claims break the
// rules above or the result would exceed kMaxEnvelopeBytes; kInternal on an OpenSSL failure.
Result<std::string> SealRequest(const RequestClaims& claims, const Passwords* passwords,
                                const EcPrivateKey& signing_key, std::string_view signing_kid,
                                const Jwk& agent_encryption_key);

// Replay memory, implemented durably by the queue (and in memory below, for tests).
// Implementations must be safe to call from the thread that calls OpenRequest.
class ReplayGuard {
 public:
  enum class Verdict {
    kNew,         // neither the id nor the nonce was seen; both are now remembered
    kRedelivery,  // this exact (id, nonce) pair was remembered before: the same request again
    kReplay,      // the id was seen with another nonce, or the nonce with another id
  };
  virtual ~ReplayGuard() = default;
  // Remembers (request_id, nonce) until `forget_after` (= exp + max skew), durably before the
  // request is answered: before it returns kNew, or, as the agent's intake does, in the same
  // transaction that stores the request, before which nothing of it is answered. An error
  // (e.g. kIoError) means nothing is known; OpenRequest then rejects with kUnavailable.
  virtual Result<Verdict> Remember(std::string_view request_id, std::string_view nonce,
                                   WallTime forget_after) = 0;
};

// Not durable; forgets entries whose forget_after has passed (by `clock`) when it is called.
// Thread-safe.
std::unique_ptr<ReplayGuard> NewInMemoryReplayGuard(const Clock& clock);

struct VerifiedRequest {
  RequestClaims claims;
  std::string signed_by;  // kid of the cloud key that signed it
  Passwords passwords;    // empty Secrets when the request carries none
  // True when the replay memory already held this exact (id, nonce): the cloud re-delivered a
  // request the agent has seen. The caller answers with the state it already has and must not
  // apply it again.
  bool redelivered = false;
};

struct OpenOptions {
  std::string expected_tenant;    // from enrollment
  std::string expected_audience;  // this agent's id
  std::chrono::seconds max_skew = kDefaultMaxSkew;
};

// Agent side: checks and opens an envelope (the "envelope" string of a `request` message).
// Checks, in this order, each failing with its code (docs/protocol.md section 6):
//   1. size <= kMaxEnvelopeBytes                                      too_large
//   2. three canonical base64url parts; header a JSON object with alg  malformed
//   3. alg == "ES256"                                                  bad_algorithm
//   4. header has exactly alg, kid, typ; typ == kRequestTyp            malformed
//   5. kid in `trusted` (and that key is not marked for encryption)    unknown_kid
//   6. the ES256 signature (64 bytes R||S) verifies                    bad_signature
//      -- everything below runs only for an authentic envelope --
//   7. strict claims schema and the rules of RequestClaims             malformed
//   8. tenant, then aud                                     wrong_tenant, wrong_audience
//   9. iat and nbf <= now + skew                                       not_yet_valid
//      exp > now - skew                                                expired
//  10. the JWE: form and header                                        malformed
//      alg "ECDH-ES", enc "A256GCM"                                    bad_algorithm
//      kid == the agent key's thumbprint                               decrypt_failed
//      epk on the curve, 12-byte IV, 16-byte tag                       malformed
//      authenticates and decrypts                                      decrypt_failed
//      plaintext strict; old_password exactly for change               malformed
//  11. ReplayGuard::Remember(id, nonce, exp + skew)          replayed / unavailable
// So an unauthenticated peer costs at most one signature verification, and replay memory is
// written only for an envelope that passed every other check. Every buffer that held
// plaintext is wiped; the passwords live on only in the returned Secrets. The Rejection's
// reason never holds a password.
Result<VerifiedRequest, Rejection> OpenRequest(std::string_view envelope,
                                               const TrustedKeys& trusted,
                                               const EcPrivateKey& agent_encryption_key,
                                               const OpenOptions& options, const Clock& clock,
                                               ReplayGuard& replay);
// The same, parsing the keys of `trusted` for this one envelope (tests, tools).
Result<VerifiedRequest, Rejection> OpenRequest(std::string_view envelope, const Jwks& trusted,
                                               const EcPrivateKey& agent_encryption_key,
                                               const OpenOptions& options, const Clock& clock,
                                               ReplayGuard& replay);

// ---------------------------------------------------------------------------------------------
// Enrollment (HTTPS POST /enroll, JSON bodies; not channel messages, no "type"/"v").

struct EnrollRequest {
  std::string token;  // the one-time enrollment token
  std::string agent_id;
  std::string csr;     // PEM
  Jwk encryption_jwk;  // the agent's encryption public key (use "enc", alg "ECDH-ES")
};

struct EnrollResponse {
  std::string tenant;
  std::string certificate;  // PEM chain, leaf first
  Jwks cloud_keys;          // the cloud's request-signing keys
  std::string agent_url;    // wss://...
};

// Strict like ParseMessage (unknown fields refused), at most kMaxMessageBytes.
Result<EnrollRequest> ParseEnrollRequest(std::string_view json);
Result<EnrollResponse> ParseEnrollResponse(std::string_view json);
std::string Serialize(const EnrollRequest& m);
std::string Serialize(const EnrollResponse& m);

}  // namespace wb::protocol
