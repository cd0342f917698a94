#pragma once
// Channel tests' fixtures: a real `wbcloud serve` in a temporary state directory, an agent
// enrolled with it, a recording (and optionally answering) channel Handler, and the other real
// servers the tests need (openssl s_server, tinyproxy).

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "channel/channel.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace wb::testing {

inline constexpr std::chrono::seconds kWait{20};

std::filesystem::path WbcloudPath();
std::filesystem::path WbagentPath();

// `wbcloud serve` on 127.0.0.1. The first Start picks a free port; later ones reuse it.
class CloudServer {
 public:
  explicit CloudServer(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}
  ~CloudServer() { Stop(); }

  Status Start(const std::vector<std::string>& extra_args = {});
  void Stop();
  void Signal(int sig) { child_.Signal(sig); }

  const std::filesystem::path& state_dir() const { return state_dir_; }
  std::filesystem::path ca_file() const { return state_dir_ / "ca.pem"; }
  std::filesystem::path log_file() const { return state_dir_.parent_path() / "wbcloud.log"; }
  std::string Log() const { return ReadFileOrEmpty(log_file()); }
  int port() const { return port_; }
  std::string agent_url() const;

  Result<std::string> CreateToken(int ttl_seconds = 3600) const;
  // Runs `wbcloud <args...> --state DIR`.
  CommandResult Run(std::vector<std::string> args, const std::string* input = nullptr) const;

 private:
  std::filesystem::path state_dir_;
  ChildProcess child_;
  int port_ = 0;
  std::vector<std::string> last_args_;
};

// Channel options for an agent with state in `state_dir`, talking to `cloud`, with short
// timeouts and backoff for tests.
channel::Options TestOptions(const CloudServer& cloud, const std::filesystem::path& state_dir,
                             const std::string& agent_id);

// Enrolls `options` (agent_id, state_dir) with `cloud` through channel::Register.
Status Enroll(const CloudServer& cloud, const channel::Options& options);

// A state directory that looks enrolled, with a client certificate from `ca`: for tests whose
// server is not wbcloud (the TLS checks run before anything else).
Status FakeEnrollment(const std::filesystem::path& state_dir, const TestCa& ca,
                      const std::string& agent_id);

// A logger that keeps every line, for assertions on what the channel logged.
struct CapturedLog {
  std::shared_ptr<spdlog::logger> logger;
  std::string text() const;
};
CapturedLog CaptureLog();

// Records everything the channel hands over. In answering mode it plays a minimal agent: it
// opens each request envelope with protocol::OpenRequest (keys from the state directory),
// answers `rejected` with the rejection's code or `accepted` then `result` (outcome
// "succeeded"), and records the result acks. In accepting mode it answers `accepted` and
// never a result (an agent that dies while it applies the request).
class TestHandler : public channel::Handler {
 public:
  enum class Mode { kRecord, kAnswer, kAcceptOnly };
  TestHandler(Mode mode, std::filesystem::path state_dir, int credits = 8);
  void set_channel(channel::Channel* channel) { channel_ = channel; }

  channel::HelloState OnConnecting() override;
  void OnConnected(const protocol::Welcome& welcome) override;
  void OnMessage(protocol::Message message) override;
  void OnKeySetChanged(const protocol::Jwks& keys) override;
  void OnCertificateRenewed(const channel::RenewedCertificate& renewed) override;
  void OnFrameRejected(const protocol::Rejected& frame) override;
  bool MayReject() override;
  void OnDisconnected(const Status& why) override;

  // Waits (bounded) until `ready` holds; `ready` runs under the handler's lock.
  bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout = kWait);

  std::vector<std::string> requests_seen() const;  // request ids (or envelopes if unopened)
  std::vector<std::string> acks() const;
  std::vector<std::string> rejections() const;  // "code" per rejected request
  std::vector<std::string> passwords() const;   // new passwords opened (tests only!)
  int connects() const;
  int keyset_changes() const;

  mutable std::mutex mu;  // guards everything below; WaitFor's predicate runs under it
  std::vector<std::string> requests;
  std::vector<int> deliveries;  // request.delivery of each request, in order
  // Answering mode: the outcome reported, or a rejection sent instead of accepted + result.
  std::string answer_outcome = "succeeded";
  std::optional<protocol::RejectCode> answer_rejection;
  std::vector<std::string> result_acks;
  std::vector<std::string> rejected;
  std::vector<std::string> opened_passwords;
  std::vector<Status> disconnects;
  int connected = 0;
  int keysets = 0;
  std::vector<channel::RenewedCertificate> renewals;
  std::vector<std::string> frame_rejections;  // "code" per rejection the channel made itself
  bool may_reject = true;                     // MayReject's answer

 private:
  void Answer(const protocol::Request& request);
  Mode mode_;
  std::filesystem::path state_dir_;
  int credits_;
  channel::Channel* channel_ = nullptr;
  std::condition_variable cv_;
  std::unique_ptr<protocol::ReplayGuard> replay_;
  SystemClock clock_;
};

// openssl s_server on 127.0.0.1 with `cert`, optionally limited to TLS 1.2.
class TlsServer {
 public:
  Status Start(const KeyPair& cert, const std::filesystem::path& log, bool tls12_only = false);
  int port() const { return port_; }

 private:
  ChildProcess child_;
  int port_ = 0;
};

// tinyproxy on 127.0.0.1, optionally with BasicAuth user:password.
class Proxy {
 public:
  Status Start(const std::filesystem::path& dir, const std::string& user = "",
               const std::string& password = "", const std::vector<int>& connect_ports = {});
  int port() const { return port_; }
  std::string Log() const { return ReadFileOrEmpty(log_); }

 private:
  ChildProcess child_;
  int port_ = 0;
  std::filesystem::path log_;
};

// Waits until something accepts TCP connections on 127.0.0.1:port.
Status WaitForPort(int port, ChildProcess* child);

}  // namespace wb::testing
