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

# A CI run keeps two full builds with their debug information (the suite's and the sanitized
# one): about 17 GB uncompressed, which once filled the disk. -gz compresses the debug sections
# of the objects and of the linked binaries (zlib), which gdb, addr2line and the sanitizers'
# symbolizer all read: the suite's tree went from 6.8 GB to 3.0 GB. The flags are added to the
# environment's CXXFLAGS and LDFLAGS (which CMake reads at the first configure only), because
# these settings replace the cached ones.
debug_flags=(-DCMAKE_CXX_FLAGS="${CXXFLAGS:+$CXXFLAGS }-gz"
  -DCMAKE_EXE_LINKER_FLAGS="${LDFLAGS:+$LDFLAGS }-gz")

# Fails at once, with the numbers, when the disk of `dir` cannot hold `need_gb` more, rather
# than an hour in with "No space left on device" from the linker. A disk df cannot measure is
# not held against the run.
require_free_space() {
  local dir=$1 need_gb=$2 what=$3 have_gb
  have_gb=$(df -P -BG "$dir" 2>/dev/null | awk 'NR == 2 { sub("G", "", $4); print $4 }') || true
  case $have_gb in
    '' | *[!0-9]*)
      echo "test.sh: cannot tell the free space on the disk of $dir; going on" >&2
      return
      ;;
  esac
  if [ "$have_gb" -lt "$need_gb" ]; then
    echo "test.sh: $have_gb GB free on the disk of $dir; this run needs about $need_gb GB there" \
      "($what). Free some space and run it again." >&2
    exit 1
  fi
}

build_and_test() {
  local dir=$1
  shift
  # The project's own builds treat warnings as errors (WB_WERROR is off by default for
  # packagers and users).
  cmake -S "$root" -B "$dir" -G Ninja -DWB_WERROR=ON "${debug_flags[@]}" "${launcher[@]}" "$@" \
    >/dev/null
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
if [ "$ci" = "true" ]; then
  require_free_space "$root" 10 "the build trees, with and without the sanitizers"
  require_free_space /tmp 4 "the pristine Debian root of the fresh-machine check"
else
  require_free_space "$root" 4 "the build tree"
fi
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
