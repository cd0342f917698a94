// The conversions of agent/request_mapping.h that name a stored request's operations.
#include "agent/request_mapping.h"

#include <gtest/gtest.h>

namespace wb::agent {
namespace {

TEST(RequestMappingTest, OperationsAreListedInTheProtocolsOrderAndWords) {
  queue::Operations ops{.reset = true, .unlock = true, .clear_require_change = true};
  EXPECT_EQ(OperationsOf(ops), (std::vector<protocol::Operation>{
                                   protocol::Operation::kReset, protocol::Operation::kUnlock,
                                   protocol::Operation::kClearRequireChange}));
  EXPECT_EQ(OperationsLabel(ops), "reset+unlock+clear_require_change");
  EXPECT_EQ(OperationsLabel({.change = true, .require_change = true}), "change+require_change");
  EXPECT_EQ(OperationsLabel({.validate = true}), "validate");
  EXPECT_EQ(OperationsLabel({}), "none");
}

TEST(RequestMappingTest, EveryOperationReachesTheAuditTrailUnderItsOwnName) {
  queue::RequestInfo info;
  info.operations = {.reset = true,
                     .change = false,
                     .unlock = true,
                     .require_change = true,
                     .clear_require_change = false,
                     .validate = false};
  const audit::Event e = AuditEventFor(audit::EventType::kRequestReceived, info);
  ASSERT_EQ(e.operations.size(), 3u);
  for (std::size_t i = 0; i < e.operations.size(); ++i) {
    EXPECT_EQ(audit::Name(e.operations[i]),
              protocol::OperationName(OperationsOf(info.operations)[i]));
  }
  info.operations = {.validate = true};
  EXPECT_EQ(AuditEventFor(audit::EventType::kPasswordValidated, info).operations,
            std::vector<audit::Operation>{audit::Operation::kValidate});
}

}  // namespace
}  // namespace wb::agent
