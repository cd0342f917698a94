// main() for a test binary that CTest runs as one test (wb_add_test ONE_PROCESS): a suite that
// shares one real server. GoogleTest's own main exits 0 when every test was skipped (a server
// that could not start outside CI), and CTest would then count the whole suite as passed. This
// one exits 77, which CTest reports as skipped (SKIP_RETURN_CODE), when any test was skipped
// and none failed: a suite that did not wholly run is never shown as a pass.

#include <gtest/gtest.h>

namespace {
constexpr int kSkipped = 77;  // SKIP_RETURN_CODE in tests/CMakeLists.txt
}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  if (failed != 0) return failed;
  const testing::UnitTest& run = *testing::UnitTest::GetInstance();
  return run.skipped_test_count() > 0 ? kSkipped : 0;
}
