#pragma once
// Test support: what happens when a real server a test needs cannot start.
// In CI (CI=true) the test fails; elsewhere (e.g. not root) it is skipped with the reason.

#include <gtest/gtest.h>

#include "tests/support/process.h"

// Use at the top of a test body or SetUp(): WB_REQUIRE_SERVER(status_of_start).
#define WB_REQUIRE_SERVER(status_expr)                                                             \
  do {                                                                                             \
    const ::wb::Status wb_gate_ = (status_expr);                                                   \
    if (!wb_gate_.ok()) {                                                                          \
      if (::wb::testing::InCi()) {                                                                 \
        FAIL() << "test server could not start (CI=true, so this fails): " << wb_gate_.ToString(); \
      } else {                                                                                     \
        GTEST_SKIP() << "test server could not start (skipped outside CI): "                       \
                     << wb_gate_.ToString();                                                       \
      }                                                                                            \
    }                                                                                              \
  } while (0)
