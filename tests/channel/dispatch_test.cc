// Requests from `wbcloud submit` to connected agents and back: delivery, acknowledgement,
// envelope rejections, redelivery, credits, restarts, certificate renewal and key rollover.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "channel/channel.h"
#include "channel/identity.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using channel::Channel;
using channel::ChannelState;
using ::testing::HasSubstr;
using ::testing::Not;

// An enrolled agent with its channel and handler.
struct Agent {
  Agent(const CloudServer& cloud, const std::filesystem::path& dir, const std::string& id,
        TestHandler::Mode mode, int credits = 8)
      : options(TestOptions(cloud, dir / id, id)), handler(mode, options.state_dir, credits) {}
  Status Enroll(const CloudServer& cloud) { return testing::Enroll(cloud, options); }
  Status Connect() {
    channel = std::make_unique<Channel>(options);
    handler.set_channel(channel.get());
    WB_RETURN_IF_ERROR(channel->Start(handler));
    if (!channel->WaitForState(ChannelState::kConnected, kWait)) {
      return Unavailable("not connected: " + channel->GetState().last_error.ToString());
    }
    return Status::Ok();
  }
  channel::Options options;
  TestHandler handler;
  std::unique_ptr<Channel> channel;
};

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override { WB_REQUIRE_SERVER(cloud_.Start({"--lease", "3", "--takeover", "2"})); }

  // The request's entry in `wbcloud status --json` (null when it is done).
  nlohmann::json OpenRequest(const std::string& id) {
    auto status = nlohmann::json::parse(cloud_.Run({"status", "--json"}).output, nullptr, false);
    if (!status.is_object()) return nullptr;
    for (const auto& r : status["open"]) {
      if (r.value("id", "") == id) return r;
    }
    return nullptr;
  }
  // The outcome stored for a finished request (the cloud's state file).
  std::string StoredOutcome(const std::string& id) {
    auto j = nlohmann::json::parse(
        ReadFileOrEmpty(cloud_.state_dir() / "requests" / (id + ".json")), nullptr, false);
    return j.is_object() ? j.value("outcome", "") : "";
  }
  Status BecomesAccepted(const std::string& id) {
    return WaitUntil(
        [&] {
          auto r = OpenRequest(id);
          return r.is_object() && r.value("state", "") == "accepted" ? Status::Ok()
                                                                     : NotFound("not accepted");
        },
        kWait);
  }

  // `first` accepts a new request and goes away (after `other`, if given, has connected).
  // Returns the request's id; check HasFailure() after it.
  std::string AcceptThenVanish(Agent& first, Agent* other) {
    EXPECT_TRUE(first.Enroll(cloud_).ok());
    if (other != nullptr) {
      EXPECT_TRUE(other->Enroll(cloud_).ok());
    }
    EXPECT_TRUE(first.Connect().ok());
    CommandResult submitted = Submit({}, /*wait=*/false);
    EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
    const std::string id = submitted.output.substr(0, submitted.output.find('\n'));
    EXPECT_TRUE(BecomesAccepted(id).ok()) << cloud_.Log();
    if (other != nullptr) {
      EXPECT_TRUE(other->Connect().ok());
    }
    first.channel->Stop();  // gone after accepting, before any result
    return id;
  }

  CommandResult Submit(std::vector<std::string> extra = {}, bool wait = true) {
    const auto pw = dir_.path() / "new.password";
    EXPECT_TRUE(WriteFile(pw, "N3w-Passw0rd!\n", 0600).ok());
    std::vector<std::string> args = {"submit", "--user",          "alice@example.com", "--op",
                                     "reset",  "--password-file", pw.string()};
    if (wait) args.insert(args.end(), {"--wait", "--timeout", "20"});
    args.insert(args.end(), extra.begin(), extra.end());
    return cloud_.Run(args);
  }

  static nlohmann::json ResultOf(const CommandResult& r) {
    const auto brace = r.output.find('{');
    if (brace == std::string::npos) return {};
    return nlohmann::json::parse(r.output.substr(brace), nullptr, false);
  }

  TempDir dir_{"wbdispatch"};
  CloudServer cloud_{dir_.path() / "cloud"};
};

TEST_F(DispatchTest, SubmittedRequestIsAnsweredAndAcknowledged) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  CommandResult r = Submit();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = ResultOf(r);
  EXPECT_EQ(result["outcome"], "succeeded");
  EXPECT_EQ(result["agent"], "agent-1");
  const std::string id = result["id"];
  EXPECT_TRUE(agent.handler.WaitFor([&] {
    return std::find(agent.handler.result_acks.begin(), agent.handler.result_acks.end(), id) !=
           agent.handler.result_acks.end();
  }));
  // The password crossed encrypted to the agent's key, and never reached the cloud's disk.
  EXPECT_EQ(agent.handler.passwords(), std::vector<std::string>{"N3w-Passw0rd!"});
  const std::string stored = ReadFileOrEmpty(cloud_.state_dir() / "requests" / (id + ".json"));
  EXPECT_THAT(stored, HasSubstr("\"state\":\"done\""));
  EXPECT_THAT(stored, ::testing::Not(HasSubstr("N3w-Passw0rd")));
  EXPECT_THAT(cloud_.Log(), ::testing::Not(HasSubstr("N3w-Passw0rd")));
}

TEST_F(DispatchTest, UnlockNeedsNoPassword) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  CommandResult r = cloud_.Run({"submit", "--user", "bob", "--kind", "sam", "--op", "unlock",
                                "--require-change", "--wait", "--timeout", "20"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(ResultOf(r)["summary"].get<std::string>(),
              HasSubstr("unlock,require_change sAMAccountName=bob"));
}

TEST_F(DispatchTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(cloud_.Run({"submit", "--user", "bob", "--op", "reset"}).exit_code, 2);
  EXPECT_EQ(cloud_.Run({"submit", "--user", "bob", "--op", "frobnicate"}).exit_code, 2);
}

struct RejectionCase {
  const char* fault;
  const char* code;
};

class EnvelopeRejectionTest : public DispatchTest,
                              public ::testing::WithParamInterface<RejectionCase> {};

TEST_P(EnvelopeRejectionTest, IsReportedToTheCloudWithItsCode) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  CommandResult r = Submit({"--fault", GetParam().fault});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto result = ResultOf(r);
  EXPECT_EQ(result["outcome"], "rejected");
  EXPECT_EQ(result["reject_code"], GetParam().code);
  EXPECT_EQ(agent.handler.rejections(), std::vector<std::string>{GetParam().code});
  EXPECT_TRUE(agent.handler.passwords().empty());
}

INSTANTIATE_TEST_SUITE_P(Faults, EnvelopeRejectionTest,
                         ::testing::Values(RejectionCase{"bad-signature", "bad_signature"},
                                           RejectionCase{"expired", "expired"},
                                           RejectionCase{"wrong-key", "decrypt_failed"}),
                         [](const auto& param_info) {
                           std::string name = param_info.param.code;
                           name.erase(std::remove(name.begin(), name.end(), '_'), name.end());
                           return name;
                         });

// A request frame that does not parse is answered by the channel itself (without an id: none
// could be read), once the handler has recorded it.
TEST_F(DispatchTest, AnUnparsableRequestIsRejectedByTheChannelOnceRecorded) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  ASSERT_EQ(Submit({"--fault", "unparsable"}, /*wait=*/false).exit_code, 0);
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return cloud_.Log().find("rejected a message: malformed") != std::string::npos
                               ? Status::Ok()
                               : Unavailable("no rejection yet");
                  },
                  kWait)
                  .ok())
      << cloud_.Log();
  std::lock_guard lock(agent.handler.mu);
  ASSERT_FALSE(agent.handler.frame_rejections.empty());
  EXPECT_EQ(agent.handler.frame_rejections.front(), "malformed");
}

// When the record may be missing (the agent's audit trail failed), the channel's own
// `rejected` does not leave either: the cloud hears nothing of it.
TEST_F(DispatchTest, AChannelRejectionIsNotSentWhenItsRecordMayBeMissing) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  agent.handler.may_reject = false;
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  ASSERT_EQ(Submit({"--fault", "unparsable"}, /*wait=*/false).exit_code, 0);
  ASSERT_TRUE(agent.handler.WaitFor([&] { return !agent.handler.frame_rejections.empty(); }));
  // Frames leave in order on the one connection: once a later request is answered, a
  // `rejected` made for the first would have reached the cloud.
  CommandResult later = Submit();
  EXPECT_EQ(later.exit_code, 0) << later.output;
  EXPECT_THAT(cloud_.Log(), Not(HasSubstr("rejected a message")));
}

TEST_F(DispatchTest, RequestIsRedeliveredWhenTheAgentDropsBeforeAccepting) {
  Agent silent(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kRecord);
  Agent good(cloud_, dir_.path(), "agent-b", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(silent.Enroll(cloud_).ok());
  ASSERT_TRUE(good.Enroll(cloud_).ok());
  ASSERT_TRUE(silent.Connect().ok());
  CommandResult submitted = Submit({}, /*wait=*/false);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  std::string id = submitted.output.substr(0, submitted.output.find('\n'));
  ASSERT_TRUE(silent.handler.WaitFor([&] { return !silent.handler.requests.empty(); }));
  ASSERT_TRUE(good.Connect().ok());
  silent.channel->Stop();  // drops without accepting
  CommandResult r = cloud_.Run({"submit", "--user", "x", "--op", "unlock", "--wait", "--timeout",
                                "20"});  // a second request, to both
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(good.handler.WaitFor([&] {
    return std::find(good.handler.result_acks.begin(), good.handler.result_acks.end(), id) !=
           good.handler.result_acks.end();
  })) << cloud_.Log();
  EXPECT_THAT(cloud_.Log(), HasSubstr("dropped before accepting it; redelivering"));
}

TEST_F(DispatchTest, AnAcceptedRequestGoesToAnotherAgentWhenItsAgentStaysAway) {
  Agent dying(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kAcceptOnly);
  Agent other(cloud_, dir_.path(), "agent-b", TestHandler::Mode::kAnswer);
  const std::string id = AcceptThenVanish(dying, &other);
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(other.handler.WaitFor([&] {
    return std::find(other.handler.result_acks.begin(), other.handler.result_acks.end(), id) !=
           other.handler.result_acks.end();
  })) << cloud_.Log();
  {
    std::lock_guard lock(other.handler.mu);
    // The delivery count tells the second agent the first one may have applied it.
    EXPECT_EQ(other.handler.deliveries, std::vector<int>{2});
  }
  EXPECT_THAT(cloud_.Log(), HasSubstr("has been away for 2 s; handing it to another agent"));
}

TEST_F(DispatchTest, ADeliveryTheAgentRefusedAsBusyDoesNotCount) {
  Agent busy(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kAnswer);
  busy.handler.answer_rejection = protocol::RejectCode::kQueueFull;
  Agent other(cloud_, dir_.path(), "agent-b", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(busy.Enroll(cloud_).ok());
  ASSERT_TRUE(other.Enroll(cloud_).ok());
  ASSERT_TRUE(busy.Connect().ok());
  CommandResult submitted = Submit({}, /*wait=*/false);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  ASSERT_TRUE(busy.handler.WaitFor([&] { return !busy.handler.requests.empty(); }));
  busy.channel->Stop();
  ASSERT_TRUE(other.Connect().ok());
  // After the cloud's retry delay (5 s) the other agent gets it as a first delivery: the busy
  // agent kept nothing, so there is nothing to look for in the directory.
  ASSERT_TRUE(other.handler.WaitFor([&] { return !other.handler.result_acks.empty(); },
                                    std::chrono::seconds(30)))
      << cloud_.Log();
  std::lock_guard lock(other.handler.mu);
  EXPECT_EQ(other.handler.deliveries, std::vector<int>{1});
}

TEST_F(DispatchTest, ASuccessFromTheFirstAgentReplacesAFailureAfterTheHandOver) {
  Agent first(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kAcceptOnly);
  Agent other(cloud_, dir_.path(), "agent-b", TestHandler::Mode::kAnswer);
  other.handler.answer_outcome = "policy_in_history";
  const std::string id = AcceptThenVanish(first, &other);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(other.handler.WaitFor([&] { return !other.handler.result_acks.empty(); }))
      << cloud_.Log();
  EXPECT_EQ(StoredOutcome(id), "policy_in_history");
  // The first agent is back and reports that its write had landed.
  ASSERT_TRUE(first.Connect().ok());
  ASSERT_TRUE(
      first.channel
          ->Send(protocol::ResultMessage{
              .id = id,
              .outcome = "succeeded",
              .completed_at = std::chrono::floor<std::chrono::seconds>(SystemClock().Now())})
          .ok());
  ASSERT_TRUE(first.handler.WaitFor([&] { return !first.handler.result_acks.empty(); }));
  EXPECT_EQ(StoredOutcome(id), "succeeded");
  EXPECT_THAT(cloud_.Log(), HasSubstr("reports success after it ended policy_in_history"));
}

TEST_F(DispatchTest, AHandedOverRequestTheOtherAgentRejectsGoesBackToTheFirst) {
  Agent first(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kAcceptOnly);
  Agent other(cloud_, dir_.path(), "agent-b", TestHandler::Mode::kAnswer);
  other.handler.answer_rejection = protocol::RejectCode::kExpired;
  const std::string id = AcceptThenVanish(first, &other);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return cloud_.Log().find("rejected it after the hand-over") != std::string::npos
                               ? Status::Ok()
                               : NotFound("not yet");
                  },
                  kWait)
                  .ok())
      << cloud_.Log();
  auto r = OpenRequest(id);
  ASSERT_TRUE(r.is_object()) << "the request must stay open";
  EXPECT_EQ(r.value("state", ""), "accepted");
  EXPECT_EQ(r.value("agent", ""), "agent-a");
  EXPECT_EQ(r.value("handed_over_from", ""), "agent-a");
}

TEST_F(DispatchTest, AnAcceptedRequestStaysWithItsAgentWhileNoOtherAgentCanTakeIt) {
  Agent dying(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kAcceptOnly);
  const std::string id = AcceptThenVanish(dying, nullptr);
  ASSERT_FALSE(HasFailure());
  // Takeover 2 s, plus up to 1 s until the cloud's next tick, plus a margin.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto r = OpenRequest(id);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.value("state", ""), "accepted");
  EXPECT_EQ(r.value("agent", ""), "agent-a");
  EXPECT_THAT(cloud_.Log(), Not(HasSubstr("handing it to another agent")));
}

TEST_F(DispatchTest, LeaseExpiryRedelivers) {
  Agent silent(cloud_, dir_.path(), "agent-a", TestHandler::Mode::kRecord);
  ASSERT_TRUE(silent.Enroll(cloud_).ok());
  ASSERT_TRUE(silent.Connect().ok());
  CommandResult submitted = Submit({}, /*wait=*/false);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  // The lease is 3 s: the same agent gets the request again.
  EXPECT_TRUE(silent.handler.WaitFor([&] { return silent.handler.requests.size() >= 2; }));
  EXPECT_THAT(cloud_.Log(), HasSubstr("did not accept it within 3 s; redelivering"));
}

TEST_F(DispatchTest, CreditsAreHonoured) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kRecord, /*credits=*/1);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  ASSERT_EQ(Submit({}, false).exit_code, 0);
  ASSERT_EQ(Submit({}, false).exit_code, 0);
  ASSERT_TRUE(agent.handler.WaitFor([&] { return agent.handler.requests.size() == 1; }));
  // More credit lets the second one through.
  ASSERT_TRUE(agent.channel->Send(protocol::Credits{2}).ok());
  EXPECT_TRUE(agent.handler.WaitFor([&] { return agent.handler.requests.size() >= 2; }));
  nlohmann::json status =
      nlohmann::json::parse(cloud_.Run({"status", "--json"}).output, nullptr, false);
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["requests"]["delivered"], 2);
}

TEST_F(DispatchTest, PendingRequestsSurviveACloudRestart) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  CommandResult submitted = Submit({}, /*wait=*/false);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = submitted.output.substr(0, submitted.output.find('\n'));
  EXPECT_THAT(cloud_.Run({"status"}).output, HasSubstr("1 pending"));
  cloud_.Stop();
  ASSERT_TRUE(cloud_.Start().ok());
  EXPECT_THAT(cloud_.Run({"status"}).output, HasSubstr(id));
  ASSERT_TRUE(agent.Connect().ok());
  EXPECT_TRUE(agent.handler.WaitFor([&] {
    return std::find(agent.handler.result_acks.begin(), agent.handler.result_acks.end(), id) !=
           agent.handler.result_acks.end();
  }));
}

// Messages that make no sense to the cloud but are valid keep the connection; a second hello
// breaks docs/protocol.md section 3, so the cloud closes with 1008; and it serves the agent
// when it comes back.
TEST_F(DispatchTest, BadInputFromAnAgentDoesNotHurtTheCloud) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  Channel& c = *agent.channel;
  EXPECT_TRUE(c.Send(protocol::Accepted{"00000000-0000-4000-8000-000000000000"}).ok());
  EXPECT_TRUE(c.Send(protocol::Renew{"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"}).ok());
  EXPECT_TRUE(c.Send(protocol::ResultMessage{.id = "00000000-0000-4000-8000-000000000001",
                                             .outcome = "succeeded"})
                  .ok());
  // The unknown result is acknowledged, so an agent never re-sends it forever.
  EXPECT_TRUE(agent.handler.WaitFor([&] { return !agent.handler.result_acks.empty(); }));
  EXPECT_EQ(c.GetState().state, ChannelState::kConnected);
  EXPECT_EQ(agent.handler.connects(), 1);

  EXPECT_TRUE(c.Send(protocol::Hello{.agent_id = "agent-1", .version = "x"}).ok());
  ASSERT_TRUE(agent.handler.WaitFor([&] { return !agent.handler.disconnects.empty(); }));
  {
    std::lock_guard lock(agent.handler.mu);
    EXPECT_THAT(agent.handler.disconnects.front().message(), HasSubstr("1008"));
  }
  EXPECT_THAT(cloud_.Log(), HasSubstr("protocol_violation"));

  ASSERT_TRUE(agent.handler.WaitFor([&] { return agent.handler.connected >= 2; }));
  EXPECT_EQ(cloud_.Run({"status"}).exit_code, 0);
  CommandResult served = Submit();
  EXPECT_EQ(served.exit_code, 0) << served.output << cloud_.Log();
}

TEST_F(DispatchTest, CertificateIsRenewedOverTheChannel) {
  cloud_.Stop();
  ASSERT_TRUE(cloud_.Start({"--client-cert-seconds", "10", "--lease", "3"}).ok());
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  const channel::StatePaths paths(agent.options.state_dir);
  const std::string before = ReadFileOrEmpty(paths.cert());
  // Valid from a minute ago for ten seconds: two thirds of that are over, so renewal is due.
  ASSERT_TRUE(agent.Connect().ok());
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return ReadFileOrEmpty(paths.cert()) != before ? Status::Ok()
                                                                   : Unavailable("not renewed");
                  },
                  std::chrono::milliseconds(15000))
                  .ok());
  EXPECT_FALSE(std::filesystem::exists(paths.renewal_key()));
  // The handler is told, for the audit trail (key_rotated), with what is now in agent.crt.
  ASSERT_TRUE(agent.handler.WaitFor([&] { return !agent.handler.renewals.empty(); }));
  auto stored = channel::ParseCertificate(ReadFileOrEmpty(paths.cert()));
  ASSERT_TRUE(stored.ok());
  {
    std::lock_guard lock(agent.handler.mu);
    ASSERT_EQ(agent.handler.renewals.size(), 1u);
    EXPECT_EQ(agent.handler.renewals[0].subject, stored->subject);
    EXPECT_EQ(agent.handler.renewals[0].not_after, stored->not_after);
  }
  // The next connection uses the new certificate and key.
  agent.channel->Stop();
  ASSERT_TRUE(agent.Connect().ok()) << cloud_.Log();
  EXPECT_EQ(Submit().exit_code, 0);
}

TEST_F(DispatchTest, SigningKeysRollOver) {
  Agent agent(cloud_, dir_.path(), "agent-1", TestHandler::Mode::kAnswer);
  ASSERT_TRUE(agent.Enroll(cloud_).ok());
  ASSERT_TRUE(agent.Connect().ok());
  CommandResult rotated = cloud_.Run({"rotate-key"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  ASSERT_TRUE(agent.handler.WaitFor([&] { return agent.handler.keysets == 1; }));
  auto keys = channel::LoadCloudKeys(channel::StatePaths(agent.options.state_dir));
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->keys.size(), 2u);
  // Requests signed with the new key are accepted.
  EXPECT_EQ(Submit().exit_code, 0);
  // A reconnect gets the same key set again; it is recognised, not re-applied.
  agent.channel->Stop();
  ASSERT_TRUE(agent.Connect().ok());
  EXPECT_EQ(Submit().exit_code, 0);
  EXPECT_EQ(agent.handler.keyset_changes(), 1);
}

}  // namespace
}  // namespace wb::testing
