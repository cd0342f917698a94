// wbcloud: the reference cloud endpoint for wbagent (tests, demos, benchmarks, and a model for
// cloud vendors). docs/protocol.md is the specification it implements.
//
//   wbcloud serve --state DIR --listen HOST:PORT
//   wbcloud token create --state DIR [--ttl S]
//   wbcloud submit --state DIR --user ID --op reset|change|unlock|require-change|validate ...
//                  [--wait]
//   wbcloud validate --state DIR --user ID --password-file FILE|- ...   (submit --op validate
//                  --wait: would the agent accept this password? nothing is written)
//   wbcloud status --state DIR [--json]
//   wbcloud rotate-key --state DIR
//   wbcloud load --state DIR (--users-file F | --user-pattern P --user-count N) [--kind K]
//                (--requests N | --rate R (--requests N | --duration S)) [--concurrency C]
//                [--json]     (a load generator for one agent; `serve` must be stopped)
//
// Exit codes: 0 success; 1 failure (for `submit --wait`: any outcome but succeeded); 2 usage.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <string>

#include "common/secret.h"
#include "common/version.h"
#include "tools/wbcloud/admin_client.h"
#include "tools/wbcloud/load.h"
#include "tools/wbcloud/server.h"
#include "tools/wbcloud/tokens.h"

namespace wb::cloud {
namespace {

using Json = nlohmann::json;
constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

Result<config::HostPort> ParseListen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("--listen must be HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    const int port = std::stoi(text.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    return config::HostPort{host, static_cast<std::uint16_t>(port)};
  } catch (const std::exception&) {
    return InvalidArgument("--listen must be HOST:PORT with a port 0-65535");
  }
}

Result<Secret> ReadPassword(const std::string& file) {
  if (file != "-") return ReadSecretFile(file);
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  Secret out(text);
  WipeBytes(text.data(), text.size());
  return out;
}

struct SubmitArgs {
  std::string state;
  std::string user;
  std::string kind = "upn";
  std::string op;
  bool unlock = false;
  bool require_change = false;
  std::string password_file;
  std::string old_password_file;
  bool wait = false;
  int timeout = 60;
  int ttl = 600;
  std::string requester = "wbcloud-cli";
  std::string requester_type = "admin";
  std::vector<std::string> verified_by = {"email"};
  std::string correlation_id;
  std::string fault;
};

int Submit(const SubmitArgs& a) {
  static const std::map<std::string, std::string> kKinds = {{"upn", "userPrincipalName"},
                                                            {"sam", "sAMAccountName"},
                                                            {"uid", "uid"},
                                                            {"mail", "mail"},
                                                            {"dn", "dn"}};
  std::vector<std::string> ops = {a.op == "require-change" ? "require_change" : a.op};
  if (a.unlock && a.op != "unlock") ops.push_back("unlock");
  if (a.require_change && a.op != "require-change") ops.push_back("require_change");
  const bool needs_password = a.op == "reset" || a.op == "change" || a.op == "validate";
  if (a.op == "validate" && (a.unlock || a.require_change)) {
    std::fprintf(stderr, "wbcloud submit: --op validate stands alone (it writes nothing)\n");
    return kUsage;
  }
  if (needs_password && a.password_file.empty()) {
    std::fprintf(stderr, "wbcloud submit: --op %s needs --password-file FILE (or - for stdin)\n",
                 a.op.c_str());
    return kUsage;
  }
  if (a.op == "change" && a.old_password_file.empty()) {
    std::fprintf(stderr, "wbcloud submit: --op change needs --old-password-file FILE\n");
    return kUsage;
  }
  if (!needs_password && (!a.password_file.empty() || !a.old_password_file.empty())) {
    std::fprintf(stderr, "wbcloud submit: --op %s takes no password\n", a.op.c_str());
    return kUsage;
  }
  Json request = {{"cmd", "submit"},
                  {"user", a.user},
                  {"kind", kKinds.at(a.kind)},
                  {"ops", ops},
                  {"ttl", a.ttl},
                  {"requester", a.requester},
                  {"requester_type", a.requester_type},
                  {"verified_by", a.verified_by},
                  {"correlation_id", a.correlation_id},
                  {"fault", a.fault}};
  if (needs_password) {
    auto pw = ReadPassword(a.password_file);
    if (!pw.ok()) {
      std::fprintf(stderr, "wbcloud submit: %s\n", pw.error().ToString().c_str());
      return kUsage;
    }
    request["new_password"] = std::string(pw->view());
  }
  if (a.op == "change") {
    auto old = ReadPassword(a.old_password_file);
    if (!old.ok()) {
      std::fprintf(stderr, "wbcloud submit: %s\n", old.error().ToString().c_str());
      return kUsage;
    }
    request["old_password"] = std::string(old->view());
  }
  std::string line = request.dump();
  for (const char* key : {"new_password", "old_password"}) {
    if (request.contains(key)) {
      std::string& s = request[key].get_ref<std::string&>();
      WipeBytes(s.data(), s.size());
    }
  }
  const std::filesystem::path socket = std::filesystem::path(a.state) / "admin.sock";
  auto answer = AdminCall(socket, std::move(line), std::chrono::seconds(30));
  if (!answer.ok()) {
    std::fprintf(stderr, "wbcloud submit: %s\n", answer.error().message().c_str());
    return kFailure;
  }
  if (!answer->value("ok", false)) {
    std::fprintf(stderr, "wbcloud submit: %s\n", answer->value("error", "failed").c_str());
    return kFailure;
  }
  const std::string id = (*answer)["id"].get<std::string>();
  if (!a.wait) {
    std::printf("%s\n", id.c_str());
    return kOk;
  }
  std::fprintf(stderr, "%s\n", id.c_str());
  Json wait = {{"cmd", "wait"}, {"id", id}, {"timeout_ms", a.timeout * 1000}};
  auto done = AdminCall(socket, wait.dump(), std::chrono::seconds(a.timeout + 30));
  if (!done.ok() || !done->value("ok", false)) {
    std::fprintf(stderr, "wbcloud submit: waiting failed: %s\n",
                 done.ok() ? done->value("error", "?").c_str() : done.error().message().c_str());
    return kFailure;
  }
  Json result = (*done)["request"];
  if (done->value("timed_out", false)) result["outcome"] = "timeout";
  std::printf("%s\n", result.dump(2).c_str());
  return result.value("outcome", "") == "succeeded" ? kOk : kFailure;
}

// One table of password rules, as a reset page would word it.
std::string RulesText(const Json& t) {
  std::string text;
  // Appended piece by piece: GCC 12 -O3 sees a false -Wrestrict in "literal" + string.
  auto add = [&](std::initializer_list<std::string_view> parts) {
    if (!text.empty()) text += ", ";
    for (std::string_view p : parts) text += p;
  };
  if (int n = t.value("min_length", 0); n > 0) add({"at least ", std::to_string(n), " characters"});
  if (int n = t.value("max_length", 0); n > 0) add({"at most ", std::to_string(n), " characters"});
  if (int n = t.value("min_classes", 0); n > 0)
    add({std::to_string(n), " of 5 kinds of character"});
  if (const std::string forbidden = t.value("forbidden_characters", ""); !forbidden.empty()) {
    add({"none of \"", forbidden, "\""});
  }
  if (int n = t.value("max_repeated", 0); n > 0) {
    add({"no character more than ", std::to_string(n), " times in a row"});
  }
  if (t.value("not_same_as_old", false)) add({"not the old password"});
  if (t.value("no_name_parts", false)) add({"no part of the user's name"});
  if (t.value("banned_words", false)) add({"no banned words"});
  if (t.value("breached", false)) add({"not a known breached password"});
  if (text.empty()) text = "no rules of the agent's own";
  if (!t.value("enforced", true)) text += " (log-only)";
  return text;
}

void PrintPolicySummary(const Json& summary, const std::string& at) {
  std::printf("    policy summary, at %s:\n", at.c_str());
  for (const auto& d : summary.value("directories", Json::array())) {
    std::string suffixes;
    for (const auto& s : d.value("upn_suffixes", Json::array())) {
      suffixes += suffixes.empty() ? " (" : ", ";
      suffixes += s.get<std::string>();
    }
    if (!suffixes.empty()) suffixes += ")";
    std::printf("      %s%s\n", d.value("name", "?").c_str(), suffixes.c_str());
    if (d.contains("directory")) {
      const Json& o = d["directory"];
      std::printf("        directory: at least %d characters%s, history %d, minimum age %lld s\n",
                  o.value("min_length", 0), o.value("complexity", false) ? ", complexity" : "",
                  o.value("history_length", 0), static_cast<long long>(o.value("min_age", 0LL)));
    } else {
      std::printf("        directory: not read yet\n");
    }
    std::printf("        self-service: %s\n", RulesText(d.value("self", Json::object())).c_str());
    std::printf("        admin: %s\n", RulesText(d.value("admin", Json::object())).c_str());
  }
}

// The options `submit` and `validate` share: where, whom, who asked, how long to wait.
void AddRequestOptions(CLI::App& cmd, SubmitArgs& args) {
  cmd.add_option("--state", args.state, "State directory")->required();
  cmd.add_option("--user", args.user, "The target account")->required();
  cmd.add_option("--kind", args.kind, "How --user names the account")
      ->check(CLI::IsMember({"upn", "sam", "uid", "mail", "dn"}));
  cmd.add_option("--timeout", args.timeout, "Seconds to wait")->check(CLI::Range(1, 3600));
  cmd.add_option("--requester", args.requester, "Who asked");
  cmd.add_option("--requester-type", args.requester_type, "self or admin")
      ->check(CLI::IsMember({"self", "admin"}))
      ->capture_default_str();
  cmd.add_option("--verified-by", args.verified_by, "How the requester was verified");
}

int Status(const std::string& state, bool json) {
  auto answer = AdminCall(std::filesystem::path(state) / "admin.sock",
                          Json{{"cmd", "status"}}.dump(), std::chrono::seconds(10));
  if (!answer.ok()) {
    std::fprintf(stderr, "wbcloud status: %s\n", answer.error().message().c_str());
    return kFailure;
  }
  const Json& s = (*answer)["status"];
  if (json) {
    std::printf("%s\n", s.dump(2).c_str());
    return kOk;
  }
  std::printf("tenant: %s\nagents:\n", s.value("tenant", "?").c_str());
  for (const auto& a : s["agents"]) {
    std::printf("  %-24s %-12s credits %-4d holding %-4d certificate expires %s\n",
                a.value("id", "?").c_str(),
                a.value("connected", false) ? "connected" : "disconnected", a.value("credits", 0),
                a.value("holding", 0), a.value("certificate_expires", "?").c_str());
    if (a.contains("audit_head")) {
      std::printf("    audit head (witness) %s, at %s\n", a.value("audit_head", "?").c_str(),
                  a.value("audit_head_at", "?").c_str());
    }
    if (a.contains("policy_summary")) {
      PrintPolicySummary(a["policy_summary"], a.value("policy_summary_at", "?"));
    }
  }
  const Json& r = s["requests"];
  std::printf("requests: %d pending, %d delivered, %d accepted, %d done\n", r.value("pending", 0),
              r.value("delivered", 0), r.value("accepted", 0), r.value("done", 0));
  for (const auto& o : s["open"]) {
    std::printf("  %s  %-9s %s%s\n", o.value("id", "?").c_str(), o.value("state", "?").c_str(),
                o.value("summary", "").c_str(),
                o.contains("agent") ? (" -> " + o.value("agent", "")).c_str() : "");
  }
  return kOk;
}

int RotateKey(const std::string& state) {
  auto answer = AdminCall(std::filesystem::path(state) / "admin.sock",
                          Json{{"cmd", "rotate-key"}}.dump(), std::chrono::seconds(30));
  if (!answer.ok() || !answer->value("ok", false)) {
    std::fprintf(
        stderr, "wbcloud rotate-key: %s\n",
        answer.ok() ? answer->value("error", "?").c_str() : answer.error().message().c_str());
    return kFailure;
  }
  std::printf("%s\n", answer->value("kid", "").c_str());
  return kOk;
}

int TokenCreate(const std::string& state, int ttl) {
  SystemClock clock;
  const std::filesystem::path dir(state);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  auto token = CreateToken(dir / "tokens.json", std::chrono::seconds(ttl), clock);
  if (!token.ok()) {
    std::fprintf(stderr, "wbcloud token create: %s\n", token.error().ToString().c_str());
    return kFailure;
  }
  std::printf("%s\n", token->c_str());
  return kOk;
}

int Main(int argc, char** argv) {
  CLI::App app{"wbcloud: reference cloud endpoint for wbagent", "wbcloud"};
  app.set_version_flag("--version", std::string("wbcloud ") + kVersion);
  app.require_subcommand(1);

  std::string state;
  ServeOptions serve;
  std::string listen;
  std::string min_tls = "1.2";
  std::string max_tls = "1.3";
  long long cert_seconds = 0;
  int lease = 30;
  int takeover = 60;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the cloud endpoint");
  serve_cmd->add_option("--state", state, "State directory (created on first start)")->required();
  serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (port 0: any)")->required();
  serve_cmd->add_option("--san", serve.extra_names,
                        "Extra subjectAltName for a new server certificate (DNS:x, IP:y)");
  serve_cmd->add_option("--min-tls", min_tls, "Lowest TLS version")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  serve_cmd->add_option("--max-tls", max_tls, "Highest TLS version (1.2 to test old servers)")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  serve_cmd
      ->add_option("--client-cert-seconds", cert_seconds,
                   "Lifetime of issued agent certificates (default 90 days)")
      ->check(CLI::Range(10LL, 10LL * 365 * 86400));
  serve_cmd->add_option("--lease", lease, "Seconds an agent has to accept a delivered request")
      ->check(CLI::Range(1, 3600));
  serve_cmd
      ->add_option("--takeover", takeover,
                   "Seconds an agent may stay away before the requests it accepted go to "
                   "another agent")
      ->check(CLI::Range(1, 86400));
  serve_cmd->add_option("--log-level", serve.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  CLI::App* token_cmd = app.add_subcommand("token", "Enrollment tokens");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand("create", "Print a one-time token");
  int ttl = 3600;
  token_create->add_option("--state", state, "State directory")->required();
  token_create->add_option("--ttl", ttl, "Seconds until the token expires")
      ->check(CLI::Range(1, 30 * 86400));

  SubmitArgs submit;
  CLI::App* submit_cmd = app.add_subcommand("submit", "Submit a request to the agents");
  AddRequestOptions(*submit_cmd, submit);
  submit_cmd->add_option("--op", submit.op, "The operation")
      ->required()
      ->check(CLI::IsMember({"reset", "change", "unlock", "require-change", "validate"}));
  submit_cmd->add_flag("--unlock", submit.unlock, "Also unlock the account");
  submit_cmd->add_flag("--require-change", submit.require_change,
                       "Also require a change at next logon");
  submit_cmd->add_option("--password-file", submit.password_file,
                         "File with the new password (mode 0600), or - for stdin");
  submit_cmd->add_option("--old-password-file", submit.old_password_file,
                         "File with the old password (for --op change)");
  submit_cmd->add_flag("--wait", submit.wait, "Wait for the result and print it as JSON");
  submit_cmd->add_option("--ttl", submit.ttl, "Seconds until the request expires")
      ->check(CLI::Range(10, 900));
  submit_cmd->add_option("--correlation-id", submit.correlation_id, "Correlation id");
  submit_cmd->add_option("--fault", submit.fault, "Testing only: send a broken envelope")
      ->check(CLI::IsMember({"bad-signature", "unknown-kid", "expired", "not-yet-valid",
                             "wrong-key", "oversized", "malformed", "unparsable"}));

  SubmitArgs validate{.op = "validate", .wait = true, .requester_type = "self"};
  CLI::App* validate_cmd = app.add_subcommand(
      "validate",
      "Ask the agents whether they would accept a password for a user; nothing is written");
  AddRequestOptions(*validate_cmd, validate);
  validate_cmd
      ->add_option("--password-file", validate.password_file,
                   "File with the password to check (mode 0600), or - for stdin")
      ->required();

  bool json = false;
  CLI::App* status_cmd = app.add_subcommand("status", "Show agents and open requests");
  status_cmd->add_option("--state", state, "State directory")->required();
  status_cmd->add_flag("--json", json, "Print JSON");

  CLI::App* rotate_cmd = app.add_subcommand("rotate-key", "Roll the request-signing key over");
  rotate_cmd->add_option("--state", state, "State directory")->required();

  LoadOptions load;
  std::string load_state;
  std::string load_listen;
  std::string users_file;
  int connect_timeout = 60;
  int result_timeout = 60;
  CLI::App* load_cmd = app.add_subcommand(
      "load",
      "Load generator: act as the cloud for one enrolled agent (serve stopped) and send it "
      "pre-sealed resets; print throughput, exact latency percentiles and outcomes");
  load_cmd->add_option("--state", load_state, "State directory")->required();
  load_cmd->add_option("--listen", load_listen, "HOST:PORT (default: from DIR/agent-url)");
  load_cmd->add_option("--agent", load.agent, "The agent (default: the only enrolled one)");
  load_cmd->add_option("--users-file", users_file, "File with one user per line");
  load_cmd->add_option("--user-pattern", load.user_pattern, "User names, e.g. load%d");
  load_cmd->add_option("--user-count", load.user_count, "Users from --user-pattern: 0..N-1");
  load_cmd->add_option("--kind", load.kind, "How the users are named: upn, sam, uid, mail, dn");
  load_cmd->add_option("--requests", load.requests, "Requests to send");
  load_cmd->add_option("--rate", load.rate, "Open loop: requests per second offered");
  load_cmd->add_option("--duration", load.duration_seconds,
                       "Open loop: seconds (with --rate, instead of --requests)");
  load_cmd->add_option("--concurrency", load.concurrency,
                       "At most this many in flight (default: the agent's credits)");
  load_cmd
      ->add_option("--connect-timeout", connect_timeout, "Seconds to wait for the agent to connect")
      ->check(CLI::Range(1, 3600));
  load_cmd->add_option("--timeout", result_timeout, "Seconds to wait for each result")
      ->check(CLI::Range(1, 3600));
  load_cmd->add_flag("--json", load.json, "Print one JSON object");
  load_cmd->add_option("--log-level", load.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  if (serve_cmd->parsed()) {
    auto at = ParseListen(listen);
    if (!at.ok()) {
      std::fprintf(stderr, "wbcloud serve: %s\n", at.error().message().c_str());
      return kUsage;
    }
    serve.state_dir = std::filesystem::absolute(state);
    serve.listen = *at;
    serve.min_tls = min_tls == "1.3" ? config::TlsVersion::kTls13 : config::TlsVersion::kTls12;
    serve.max_tls = max_tls == "1.2" ? config::TlsVersion::kTls12 : config::TlsVersion::kTls13;
    if (cert_seconds > 0) serve.client_cert_lifetime = std::chrono::seconds(cert_seconds);
    serve.lease = std::chrono::seconds(lease);
    serve.takeover = std::chrono::seconds(takeover);
    return Serve(serve);
  }
  if (load_cmd->parsed()) {
    load.state_dir = std::filesystem::absolute(load_state);
    load.users_file = users_file;
    load.connect_timeout = std::chrono::seconds(connect_timeout);
    load.result_timeout = std::chrono::seconds(result_timeout);
    if (!load_listen.empty()) {
      auto at = ParseListen(load_listen);
      if (!at.ok()) {
        std::fprintf(stderr, "wbcloud load: %s\n", at.error().message().c_str());
        return kUsage;
      }
      load.listen = *at;
    }
    if (wb::Status s = CheckLoadOptions(load); !s.ok()) {
      std::fprintf(stderr, "wbcloud load: %s\n", s.message().c_str());
      return kUsage;
    }
    return RunLoad(load);
  }
  if (token_create->parsed()) return TokenCreate(state, ttl);
  if (submit_cmd->parsed()) return Submit(submit);
  if (validate_cmd->parsed()) return Submit(validate);
  if (status_cmd->parsed()) return Status(state, json);
  if (rotate_cmd->parsed()) return RotateKey(state);
  return kUsage;
}

}  // namespace
}  // namespace wb::cloud

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  return wb::cloud::Main(argc, argv);
}
