#!/usr/bin/env bash
# Builds the Debian packages the Debian way (debhelper, debian/), unsigned, and puts them in
# dist/: wbagent (the agent, its unit, sysusers.d and tmpfiles.d entries, docs and man page)
# and wbcloud (the reference cloud endpoint, in a package of its own). Then runs lintian on
# them; any lintian error fails the script.
#
#   scripts/package.sh          build in a scratch copy of the tree, packages to dist/
#
# Needs the build dependencies (scripts/install-deps.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist="$root/dist"
# A fixed place, not a random one: dpkg-buildflags maps the build path into the compiler's
# flags, and a path that stays the same lets ccache reuse the previous build.
work=/var/tmp/wbagent-package
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache  # CMake reads it from the environment
fi

# dpkg-buildpackage writes its results beside the source tree and its build tree inside it:
# build in a copy, so that the checkout stays clean.
src="$work/wbagent"
"$root/scripts/copy-sources.sh" "$src"

(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)")

mkdir -p "$dist"
rm -f "$dist"/*.deb "$dist"/*.changes "$dist"/*.buildinfo
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$dist"/
ls -l "$dist"

# --fail-on error: an error fails; every warning left is justified in
# debian/*.lintian-overrides or the notes in docs/operations.md.
lintian --fail-on error --info --display-info "$dist"/*.changes
echo "package: OK, packages in $dist"
