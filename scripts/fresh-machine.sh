#!/usr/bin/env bash
# The fresh-machine check: proves, in a pristine Debian 12 root file system (mmdebstrap
# --variant=minbase, cached between runs; scripts/fresh/root.sh), what this machine cannot,
# because it already has packages that earlier work installed by hand.
#
#   scripts/fresh-machine.sh build        scripts/install-deps.sh, configure, build, then a smoke
#                                         test: wbagent --version, check-config on the example
#                                         and one slapd-backed test (slapd_fixture_test)
#   scripts/fresh-machine.sh readme       the README's two commands as a new user runs them:
#                                         scripts/demo.sh, then scripts/test.sh (the whole
#                                         suite, without CI=true); too slow for every CI run
#   scripts/fresh-machine.sh package DIR  installs DIR/wbagent_*.deb and DIR/wbcloud_*.deb
#                                         (scripts/package.sh makes them) and checks the
#                                         binaries, the unit, the user, the directories and
#                                         what `dpkg --purge` leaves
#
# A package missing from scripts/install-deps.sh, or from a .deb's Depends, fails it whatever
# this machine has installed. Needs root (chroot, mounts) and mmdebstrap.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=fresh/root.sh
. "$root/scripts/fresh/root.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-machine: needs root (it builds and enters a chroot)" >&2
  exit 1
fi
mode=${1:-}
trap fresh_root_down EXIT
trap 'exit 130' INT TERM

# Lends this machine's compiler cache to the root, when there is one: only compiled objects,
# which the root's own compiler and headers must still produce identically to hit.
lend_ccache() {
  local cache
  cache=$(ccache --get-config cache_dir 2>/dev/null) || return 0
  [ -d "$cache" ] || return 0
  mkdir -p "$fresh_root_dir/ccache"
  mount --bind "$cache" "$fresh_root_dir/ccache" && fresh_mounts+=("$fresh_root_dir/ccache")
}

check_build() {
  fresh_root_up
  "$root/scripts/copy-sources.sh" "$fresh_root_dir/src"
  lend_ccache
  fresh_run '
    cd /src
    if ! scripts/install-deps.sh >/tmp/install-deps.log 2>&1; then
      tail -n 40 /tmp/install-deps.log
      exit 1
    fi
    tail -n 1 /tmp/install-deps.log
    launcher=()
    if command -v ccache >/dev/null && [ -d /ccache ]; then
      export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_WERROR=ON \
      "${launcher[@]}" >/dev/null
    cmake --build build -j "$(nproc)" --target wbagent slapd_fixture_test
    build/agent/wbagent --version
    scripts/example-files.sh >/dev/null
    build/agent/wbagent check-config --config config/wbagent.example.toml
    ctest --test-dir build -R "^slapd_fixture_test$" --output-on-failure
  '
  echo "fresh-machine: build check passed in a pristine root"
}

check_readme() {
  fresh_root_up
  "$root/scripts/copy-sources.sh" "$fresh_root_dir/src"
  fresh_run 'cd /src && scripts/demo.sh && scripts/test.sh'
  echo "fresh-machine: scripts/demo.sh and scripts/test.sh passed in a pristine root"
}

check_package() {
  local dir=${1:?"usage: fresh-machine.sh package DIR"}
  local agent_deb cloud_deb
  agent_deb=$(ls "$dir"/wbagent_*.deb 2>/dev/null | head -n 1)
  cloud_deb=$(ls "$dir"/wbcloud_*.deb 2>/dev/null | head -n 1)
  if [ -z "$agent_deb" ] || [ -z "$cloud_deb" ]; then
    echo "fresh-machine: no wbagent_*.deb and wbcloud_*.deb in $dir (run scripts/package.sh)" >&2
    return 1
  fi
  fresh_root_up
  mkdir -p "$fresh_root_dir/debs"
  cp "$agent_deb" "$fresh_root_dir/debs/wbagent.deb"
  cp "$cloud_deb" "$fresh_root_dir/debs/wbcloud.deb"
  cp "$root/scripts/fresh/package-check.sh" "$fresh_root_dir/debs/"
  fresh_run 'bash /debs/package-check.sh'
  echo "fresh-machine: package check passed in a pristine root"
}

case "$mode" in
  build) check_build ;;
  readme) check_readme ;;
  package) check_package "${2:-}" ;;
  *)
    echo "usage: scripts/fresh-machine.sh build | readme | package DIR" >&2
    exit 2
    ;;
esac
