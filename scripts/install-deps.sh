#!/usr/bin/env bash
# Installs every Debian 12 package wbagent needs to build, test, run the demo and the
# benchmarks. Non-interactive and safe to re-run: apt-get skips what is already there.
#
#   scripts/install-deps.sh         what scripts/test.sh and scripts/demo.sh need
#   scripts/install-deps.sh --ci    also what CI's extra steps need (also with CI=true):
#                                   Clang, the Debian packaging tools and mmdebstrap
#
# scripts/fresh-machine.sh proves this list complete in a pristine Debian 12 root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # libraries
  libldap-dev libboost1.74-dev libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libcli11-dev libtoml11-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests only: an independent JOSE implementation, the protocol's interop oracle (cjose.pc
  # requires jansson, which libcjose-dev does not depend on); LMDB to hold slapd's writer lock
  # (a write frozen inside the directory)
  libcjose-dev libjansson-dev liblmdb-dev
  # real servers and clients the tests and the demo start
  slapd ldap-utils openssl
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldb-tools
  iproute2 socat tinyproxy sqlite3 procps
  # promtool, for the metrics tests (`promtool check metrics`, `promtool test rules`). Only the
  # tool is used: the package's own Prometheus server is disabled below.
  prometheus
)
ci_packages=(
  # the second compiler; ccache keeps CI's repeated builds fast
  clang ccache
  # scripts/package.sh: debhelper, lintian, the man pages
  debhelper dpkg-dev lintian help2man
  # scripts/fresh-machine.sh: the pristine root
  mmdebstrap
)
if [ "${1:-}" = "--ci" ] || [ "${CI:-}" = "true" ]; then
  packages+=("${ci_packages[@]}")
fi

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# slapd and krb5 ask questions at install time; answer them so apt never waits on a tty.
echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
echo "krb5-config krb5-config/default_realm string SAMDOM.EXAMPLE.TEST" | $sudo debconf-set-selections
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged services are not ours: tests start private instances on their own ports.
for svc in slapd samba-ad-dc smbd nmbd winbind tinyproxy prometheus; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "install-deps: done"
