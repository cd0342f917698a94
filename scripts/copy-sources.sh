#!/usr/bin/env bash
# Copies the source tree to DEST, for a build that must not touch the checkout (the Debian
# package, the pristine root): the files git tracks and the untracked ones it does not ignore,
# or, outside a git checkout, everything but build trees and dist/.
#
#   scripts/copy-sources.sh DEST
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:?"usage: scripts/copy-sources.sh DEST"}
mkdir -p "$dest"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    tar -C "$root" --null -T - -cf - | tar -C "$dest" -xf -
else
  tar -C "$root" --exclude='./build*' --exclude=./dist -cf - . | tar -C "$dest" -xf -
fi
