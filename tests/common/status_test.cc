#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace wb {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(StatusTest, ToStringNamesTheCode) {
  EXPECT_EQ(PermissionDenied("no").ToString(), "permission_denied: no");
}

TEST(StatusTest, WithContextKeepsTheCode) {
  Status s = NotFound("x").WithContext("reading y");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "reading y: x");
}

TEST(StatusTest, ErrnoIsConvertedOnce) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "f").code(), Code::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "f").code(), Code::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "f").code(), Code::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EIO, "f").code(), Code::kIoError);
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> good(7);
  Result<int> bad(InvalidArgument("nope"));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

Status FailsEarly(bool fail, int* reached) {
  WB_RETURN_IF_ERROR(fail ? Internal("stop") : Status::Ok());
  *reached = 1;
  return Status::Ok();
}

TEST(StatusTest, ReturnIfErrorStopsOnError) {
  int reached = 0;
  EXPECT_FALSE(FailsEarly(true, &reached).ok());
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(FailsEarly(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}

}  // namespace
}  // namespace wb
