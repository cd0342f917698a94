# Sourced by scripts/fresh-machine.sh: a pristine Debian 12 root file system to run commands in.
#
# The root is made once by mmdebstrap (--variant=minbase, from Debian's repositories as this
# machine's apt is configured, with its Acquire:: options, since the sources may be a dated
# snapshot) and cached as a tarball keyed by everything that shapes it. Each run unpacks a
# fresh copy, so nothing one run installs is seen by the next.

fresh_cache_dir=${WB_FRESH_CACHE:-/var/cache/wbagent-fresh}
fresh_suite=bookworm

# The host's apt sources, in the form mmdebstrap reads on standard input.
fresh_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Only Debian's own repositories: a pristine Debian 12 has no others.
    if grep -qE '^(URIs:|deb) .*debian' "$f"; then
      cat "$f"
      echo
    fi
  done
}

# The host's Acquire:: options that matter for a dated snapshot, as --aptopt arguments.
fresh_aptopts() {
  apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|http::Proxy|https::Proxy) ' |
    sed 's/^/--aptopt=/'
}

# Prints the path of the cached pristine root tarball, making it when it is missing.
fresh_tarball() {
  local key tarball
  key=$( { echo "$fresh_suite minbase v1"; fresh_sources; fresh_aptopts; } | sha256sum | cut -c1-16)
  tarball="$fresh_cache_dir/$fresh_suite-minbase-$key.tar"
  if [ ! -f "$tarball" ]; then
    command -v mmdebstrap >/dev/null || { echo "fresh: mmdebstrap is not installed" >&2; return 1; }
    mkdir -p "$fresh_cache_dir"
    rm -f "$fresh_cache_dir/$fresh_suite-minbase-"*.tar  # older keys
    echo "fresh: making a pristine $fresh_suite root (cached as $tarball)" >&2
    local aptopts
    mapfile -t aptopts < <(fresh_aptopts)
    fresh_sources | mmdebstrap --quiet --variant=minbase --format=tar "${aptopts[@]}" "$fresh_suite" \
      "$tarball.tmp" - >&2
    mv "$tarball.tmp" "$tarball"
  fi
  echo "$tarball"
}

fresh_root_dir=
fresh_mounts=()

# Unpacks a pristine root into a new directory and mounts what a chroot needs.
fresh_root_up() {
  local tarball
  tarball=$(fresh_tarball)
  fresh_root_dir=$(mktemp -d /tmp/wbfresh.XXXXXX)
  tar -C "$fresh_root_dir" -xf "$tarball"
  cp /etc/resolv.conf "$fresh_root_dir/etc/resolv.conf" 2>/dev/null || true
  # Packages' maintainer scripts must not start services inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$fresh_root_dir/usr/sbin/policy-rc.d"
  chmod 755 "$fresh_root_dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$fresh_root_dir/proc" && fresh_mounts+=("$fresh_root_dir/proc")
  mount --rbind /sys "$fresh_root_dir/sys" && mount --make-rslave "$fresh_root_dir/sys" &&
    fresh_mounts+=("$fresh_root_dir/sys")
  mount --rbind /dev "$fresh_root_dir/dev" && mount --make-rslave "$fresh_root_dir/dev" &&
    fresh_mounts+=("$fresh_root_dir/dev")
  mount -t tmpfs tmpfs "$fresh_root_dir/tmp" && fresh_mounts+=("$fresh_root_dir/tmp")
}

# Unmounts and removes the root; safe to call twice and from a trap.
fresh_root_down() {
  local i
  for ((i = ${#fresh_mounts[@]} - 1; i >= 0; i--)); do
    umount -R "${fresh_mounts[$i]}" 2>/dev/null || umount -lR "${fresh_mounts[$i]}" 2>/dev/null || true
  done
  fresh_mounts=()
  if [ -n "$fresh_root_dir" ] && [ -d "$fresh_root_dir" ]; then
    # Never follow a mount that is still there into the host.
    if ! grep -q " $fresh_root_dir/" /proc/mounts; then rm -rf --one-file-system "$fresh_root_dir"; fi
  fi
  fresh_root_dir=
}

# Runs a bash script inside the root, as root, with a clean environment.
fresh_run() {
  chroot "$fresh_root_dir" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 CI="${CI:-}" DEBIAN_FRONTEND=noninteractive /bin/bash -euo pipefail -c "$1"
}
