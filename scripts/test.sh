#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole CTest suite, including
# the tests against a real slapd and a real Samba AD DC (those need root for the network
# namespace; outside CI they are skipped with a reason when they cannot start, in CI they fail).
#
#   scripts/test.sh            build in build/, run every test
#   scripts/test.sh -R Slapd   extra arguments go to ctest
#
# With CI=true it does more, in this order (docs/operations.md, "Building and packaging"):
#   1. the suite, built with GCC (RelWithDebInfo);
#   2. Release builds of the product with GCC and Clang (Clang checks the thread-safety
#      annotations), built, not run (scripts/build-matrix.sh --product; the script without
#      --product builds every build type with the tests too);
#   3. the Debian packages, with lintian (scripts/package.sh);
#   4. the fresh-machine checks in a pristine Debian 12 root: install-deps, build and a smoke
#      test; then the packages installed, checked and purged (scripts/fresh-machine.sh);
#   5. the libFuzzer targets, 15 s each (scripts/fuzz.sh --short);
#   6. the suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Builds use ccache when it is installed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
ci=${CI:-}

"$root/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, and the build folder left out of the hash, so that a fresh
  # clone in another folder hits the cache (CI clones anew for every run).
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi

build_and_test() {
  local dir=$1
  shift
  # The project's own builds treat warnings as errors (WB_WERROR is off by default for
  # packagers and users).
  cmake -S "$root" -B "$dir" -G Ninja -DWB_WERROR=ON "${launcher[@]}" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"
}

# Prints how long a CI step took, for the closing note's timing.
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "test.sh: $name took $((SECONDS - start)) s"
}

ctest_args=("$@")
timed "the suite (GCC, RelWithDebInfo)" \
  build_and_test "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "$ci" = "true" ]; then
  timed "Release builds with GCC and Clang" \
    "$root/scripts/build-matrix.sh" --product gcc:Release clang:Release
  timed "the Debian packages" "$root/scripts/package.sh"
  timed "the fresh-machine build check" "$root/scripts/fresh-machine.sh" build
  timed "the fresh-machine package check" "$root/scripts/fresh-machine.sh" package "$root/dist"

  timed "the fuzz targets, 15 s each" "$root/scripts/fuzz.sh" --short

  echo "test.sh: CI=true, running the suite again under ASan+UBSan"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  # Leaks inside third-party libraries only, each documented in the file.
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  timed "the suite under ASan+UBSan" \
    build_and_test "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DWB_SANITIZE=ON
fi
