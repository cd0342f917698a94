#include "tests/channel/cloud_fixture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "channel/enrollment.h"
#include "channel/identity.h"

namespace wb::testing {
namespace {

Status ConnectUnix(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus(err, "connect " + path.string());
}

Status ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus(err, "connect to port " + std::to_string(port));
}

int PortOfUrl(const std::string& url) {
  // wss://127.0.0.1:PORT/agent
  const auto colon = url.rfind(':');
  const auto slash = url.find('/', colon);
  if (colon == std::string::npos || slash == std::string::npos) return 0;
  return std::atoi(url.substr(colon + 1, slash - colon - 1).c_str());
}

}  // namespace

std::filesystem::path WbcloudPath() { return WB_WBCLOUD_PATH; }
std::filesystem::path WbagentPath() { return WB_WBAGENT_PATH; }

Status WaitForPort(int port, ChildProcess* child) {
  return WaitUntil([port] { return ConnectTcp(port); }, std::chrono::milliseconds(15000), child);
}

Status CloudServer::Start(const std::vector<std::string>& extra_args) {
  if (!extra_args.empty() || last_args_.empty()) last_args_ = extra_args;
  std::vector<std::string> argv = {
      WbcloudPath().string(), "serve",    "--state",
      state_dir_.string(),    "--listen", "127.0.0.1:" + std::to_string(port_)};
  argv.insert(argv.end(), last_args_.begin(), last_args_.end());
  auto child = ChildProcess::Start(argv, log_file());
  if (!child.ok()) return child.error();
  child_ = std::move(*child);
  const auto admin = state_dir_ / "admin.sock";
  const int wanted = port_;
  Status ready = WaitUntil(
      [&] {
        WB_RETURN_IF_ERROR(ConnectUnix(admin));
        const int port = PortOfUrl(agent_url());
        if (port == 0 || (wanted != 0 && port != wanted)) return Unavailable("no agent-url yet");
        return Status::Ok();
      },
      std::chrono::milliseconds(20000), &child_);
  if (!ready.ok()) return ready.WithContext("wbcloud serve did not start; log:\n" + Log());
  port_ = PortOfUrl(agent_url());
  return Status::Ok();
}

void CloudServer::Stop() {
  if (child_.pid() > 0) child_.Stop();
}

std::string CloudServer::agent_url() const {
  std::string url = ReadFileOrEmpty(state_dir_ / "agent-url");
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  return url;
}

CommandResult CloudServer::Run(std::vector<std::string> args, const std::string* input) const {
  std::vector<std::string> argv = {WbcloudPath().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--state");
  argv.push_back(state_dir_.string());
  return RunCommand(argv, {}, input);
}

Result<std::string> CloudServer::CreateToken(int ttl_seconds) const {
  CommandResult r = Run({"token", "create", "--ttl", std::to_string(ttl_seconds)});
  if (r.exit_code != 0) return Internal("wbcloud token create failed: " + r.output);
  std::string token = r.output;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

channel::Options TestOptions(const CloudServer& cloud, const std::filesystem::path& state_dir,
                             const std::string& agent_id) {
  channel::Options o;
  o.agent_id = agent_id;
  o.agent_version = "test";
  o.server = {"127.0.0.1", static_cast<std::uint16_t>(cloud.port())};
  o.path = "/agent";
  o.ca_file = cloud.ca_file();
  o.state_dir = state_dir;
  o.connect_timeout = std::chrono::seconds(5);
  o.heartbeat_interval = std::chrono::seconds(5);
  o.backoff = {.initial = std::chrono::milliseconds(100), .max = std::chrono::milliseconds(1000)};
  o.close_timeout = std::chrono::seconds(3);
  return o;
}

Status Enroll(const CloudServer& cloud, const channel::Options& options) {
  auto token = cloud.CreateToken();
  if (!token.ok()) return token.error();
  SystemClock clock;
  auto r = channel::Register(options, Secret(*token), /*force=*/false, clock);
  return r.ok() ? Status::Ok() : r.error();
}

Status FakeEnrollment(const std::filesystem::path& state_dir, const TestCa& ca,
                      const std::string& agent_id) {
  std::filesystem::create_directories(state_dir);
  auto client = ca.IssueClient(agent_id);
  if (!client.ok()) return client.error();
  const channel::StatePaths paths(state_dir);
  std::filesystem::copy_file(client->cert, paths.cert(),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(client->key, paths.key(),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(
      paths.key(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto signing = protocol::EcPrivateKey::Generate();
  if (!signing.ok()) return signing.error();
  WB_RETURN_IF_ERROR(channel::SaveCloudKeys(paths, protocol::Jwks{{signing->PublicJwk()}}));
  return channel::SaveEnrollment(paths, {.agent_id = agent_id, .tenant = "tenant-test"});
}

std::string CapturedLog::text() const {
  std::string out;
  auto* sink = static_cast<spdlog::sinks::ringbuffer_sink_mt*>(logger->sinks().front().get());
  for (const auto& line : sink->last_formatted()) out += line;
  return out;
}

CapturedLog CaptureLog() {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(2000);
  sink->set_pattern("%l %v");
  auto logger = std::make_shared<spdlog::logger>("channel-test", sink);
  logger->set_level(spdlog::level::trace);
  return {logger};
}

TestHandler::TestHandler(Mode mode, std::filesystem::path state_dir, int credits)
    : mode_(mode), state_dir_(std::move(state_dir)), credits_(credits) {
  replay_ = protocol::NewInMemoryReplayGuard(clock_);
}

channel::HelloState TestHandler::OnConnecting() { return {.credits = credits_}; }

void TestHandler::OnConnected(const protocol::Welcome&) {
  std::lock_guard lock(mu);
  ++connected;
  cv_.notify_all();
}

void TestHandler::OnKeySetChanged(const protocol::Jwks&) {
  std::lock_guard lock(mu);
  ++keysets;
  cv_.notify_all();
}

void TestHandler::OnFrameRejected(const protocol::Rejected& frame) {
  std::lock_guard lock(mu);
  frame_rejections.emplace_back(protocol::RejectCodeName(frame.code));
  cv_.notify_all();
}

bool TestHandler::MayReject() {
  std::lock_guard lock(mu);
  return may_reject;
}

void TestHandler::OnCertificateRenewed(const channel::RenewedCertificate& renewed) {
  std::lock_guard lock(mu);
  renewals.push_back(renewed);
  cv_.notify_all();
}

void TestHandler::OnDisconnected(const Status& why) {
  std::lock_guard lock(mu);
  disconnects.push_back(why);
  cv_.notify_all();
}

void TestHandler::OnMessage(protocol::Message message) {
  if (auto* request = std::get_if<protocol::Request>(&message)) {
    {
      std::lock_guard lock(mu);
      deliveries.push_back(request->delivery);
    }
    if (mode_ != Mode::kRecord) {
      Answer(*request);
    } else {
      std::lock_guard lock(mu);
      requests.push_back(request->envelope);
    }
  } else if (auto* ack = std::get_if<protocol::ResultAck>(&message)) {
    std::lock_guard lock(mu);
    result_acks.push_back(ack->id);
  }
  cv_.notify_all();
}

void TestHandler::Answer(const protocol::Request& request) {
  const channel::StatePaths paths(state_dir_);
  auto keys = channel::LoadCloudKeys(paths);
  auto key = protocol::EcPrivateKey::Load(paths.encryption_key());
  auto enrollment = channel::LoadEnrollment(paths);
  ASSERT_TRUE(keys.ok() && key.ok() && enrollment.ok());
  protocol::OpenOptions options{.expected_tenant = enrollment->tenant,
                                .expected_audience = enrollment->agent_id};
  auto opened = protocol::OpenRequest(request.envelope, *keys, *key, options, clock_, *replay_);
  if (!opened.ok()) {
    const protocol::Rejection& r = opened.error();
    {
      std::lock_guard lock(mu);
      requests.push_back(r.request_id);
      rejected.push_back(std::string(protocol::RejectCodeName(r.code)));
    }
    EXPECT_TRUE(channel_->Send(protocol::Rejected{r.request_id, r.code, r.reason}).ok());
    return;
  }
  const std::string id = opened->claims.id;
  std::string outcome;
  std::optional<protocol::RejectCode> rejection;
  {
    std::lock_guard lock(mu);
    requests.push_back(id);
    opened_passwords.emplace_back(opened->passwords.new_password.view());
    outcome = answer_outcome;
    rejection = answer_rejection;
  }
  if (rejection) {
    EXPECT_TRUE(channel_->Send(protocol::Rejected{id, *rejection, "test rejection"}).ok());
    return;
  }
  EXPECT_TRUE(channel_->Send(protocol::Accepted{id}).ok());
  if (mode_ == Mode::kAcceptOnly) return;
  EXPECT_TRUE(
      channel_
          ->Send(protocol::ResultMessage{
              .id = id,
              .outcome = outcome,
              .completed_at = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now())})
          .ok());
}

bool TestHandler::WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu);
  return cv_.wait_for(lock, timeout, ready);
}

std::vector<std::string> TestHandler::requests_seen() const {
  std::lock_guard lock(mu);
  return requests;
}
std::vector<std::string> TestHandler::acks() const {
  std::lock_guard lock(mu);
  return result_acks;
}
std::vector<std::string> TestHandler::rejections() const {
  std::lock_guard lock(mu);
  return rejected;
}
std::vector<std::string> TestHandler::passwords() const {
  std::lock_guard lock(mu);
  return opened_passwords;
}
int TestHandler::connects() const {
  std::lock_guard lock(mu);
  return connected;
}
int TestHandler::keyset_changes() const {
  std::lock_guard lock(mu);
  return keysets;
}

Status TlsServer::Start(const KeyPair& cert, const std::filesystem::path& log, bool tls12_only) {
  port_ = FreeLoopbackPort();
  std::vector<std::string> argv = {
      "openssl", "s_server",         "-accept", "127.0.0.1:" + std::to_string(port_),
      "-cert",   cert.cert.string(), "-key",    cert.key.string(),
      "-quiet"};
  if (tls12_only) argv.push_back("-tls1_2");
  auto child = ChildProcess::Start(argv, log);
  if (!child.ok()) return child.error();
  child_ = std::move(*child);
  return WaitForPort(port_, &child_);
}

Status Proxy::Start(const std::filesystem::path& dir, const std::string& user,
                    const std::string& password, const std::vector<int>& connect_ports) {
  port_ = FreeLoopbackPort();
  log_ = dir / "tinyproxy.log";
  std::string conf = "Port " + std::to_string(port_) +
                     "\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n"
                     "LogLevel Info\n";
  if (::geteuid() == 0) conf += "User nobody\nGroup nogroup\n";
  if (!user.empty()) conf += "BasicAuth " + user + " " + password + "\n";
  for (int p : connect_ports) conf += "ConnectPort " + std::to_string(p) + "\n";
  const auto conf_file = dir / "tinyproxy.conf";
  WB_RETURN_IF_ERROR(WriteFile(conf_file, conf, 0600));
  auto child = ChildProcess::Start({"tinyproxy", "-d", "-c", conf_file.string()}, log_);
  if (!child.ok()) return child.error();
  child_ = std::move(*child);
  return WaitForPort(port_, &child_);
}

}  // namespace wb::testing
