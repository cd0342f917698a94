#!/usr/bin/env bash
# Runs inside a pristine Debian 12 root (scripts/fresh-machine.sh package): installs
# /debs/wbagent.deb and /debs/wbcloud.deb the way an administrator would, checks what they
# install, and checks that `dpkg --purge` leaves exactly what docs/operations.md says: the
# state directory (the queue and the audit trail, which are evidence) and the system user,
# nothing else.
set -euo pipefail

fail() {
  echo "package-check: FAILED: $*" >&2
  exit 1
}
step() { echo "package-check: $*"; }

# Every path on the root's file system, less what apt and dpkg keep for themselves.
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /debs \
    -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
    -o -path /run \) -prune -o -print | sort
}

apt-get update -qq
# What the package needs, installed first, so that the snapshot below separates what the
# package itself leaves from what its dependencies bring.
apt-get satisfy -y -qq --no-install-recommends "$(dpkg-deb -f /debs/wbagent.deb Depends)" >/dev/null
snapshot >/tmp/before

step "install wbagent"
apt-get install -y -qq --no-install-recommends /debs/wbagent.deb >/dev/null
wbagent --version | grep -q '^wbagent ' || fail "wbagent --version"
wbagent check-config --help >/dev/null || fail "wbagent check-config --help"
[ -f /usr/share/man/man8/wbagent.8.gz ] || fail "no man page wbagent(8)"
[ -f /usr/share/doc/wbagent/examples/wbagent.example.toml ] || fail "no example config"
[ -f /usr/share/doc/wbagent/examples/wbagent-alerts.yml ] || fail "no Prometheus alert rules"
[ -f /usr/share/doc/wbagent/operations.md ] || fail "operations.md is not installed uncompressed"
[ -e /etc/wbagent/wbagent.toml ] && fail "an /etc/wbagent/wbagent.toml was installed"
[ -e /usr/bin/wbcloud ] && fail "wbagent installed wbcloud"

step "the unit"
unit=/lib/systemd/system/wbagent.service
[ -f "$unit" ] || fail "no $unit"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
state=$(systemctl is-enabled wbagent 2>/dev/null || true)
[ "$state" = "disabled" ] || fail "the unit is '$state' after install, not disabled"

step "the user and the directories"
getent passwd wbagent | grep -q ':/var/lib/wbagent:' || fail "no wbagent user"
[ "$(stat -c '%a %U:%G' /etc/wbagent)" = "750 root:wbagent" ] ||
  fail "/etc/wbagent is $(stat -c '%a %U:%G' /etc/wbagent)"
[ "$(stat -c '%a %U:%G' /var/lib/wbagent)" = "700 wbagent:wbagent" ] ||
  fail "/var/lib/wbagent is $(stat -c '%a %U:%G' /var/lib/wbagent)"

step "purge after use keeps the state and the audit trail"
# What an agent in service leaves: a config and a secret in /etc/wbagent, a queue and an
# audit trail in /var/lib/wbagent.
install -m 0640 -o root -g wbagent /dev/null /etc/wbagent/wbagent.toml
install -m 0600 -o root -g root /dev/null /etc/wbagent/ad-bind
install -d -m 0700 -o wbagent -g wbagent /var/lib/wbagent/audit
echo '{"seq":1}' >/var/lib/wbagent/audit/audit.jsonl
touch /var/lib/wbagent/queue.db
dpkg --purge wbagent >/dev/null
snapshot >/tmp/after
left=$(comm -13 /tmp/before /tmp/after)
expected=$(printf '%s\n' /var/lib/wbagent /var/lib/wbagent/audit \
  /var/lib/wbagent/audit/audit.jsonl /var/lib/wbagent/queue.db)
# systemd-sysusers keeps the previous passwd and group files as FILE-.
left=$(grep -vxE '/etc/(passwd|group|shadow|gshadow)-' <<<"$left" || true)
[ "$left" = "$expected" ] || fail "purge left, besides the dependencies:
$left
expected exactly:
$expected"
gone=$(comm -23 /tmp/before /tmp/after)
[ -z "$gone" ] || fail "purge removed what was there before the install: $gone"
getent passwd wbagent >/dev/null || fail "purge removed the wbagent user"

step "purge with WBAGENT_PURGE_STATE=yes removes the state too"
apt-get install -y -qq --no-install-recommends /debs/wbagent.deb >/dev/null
[ -f /var/lib/wbagent/audit/audit.jsonl ] || fail "a reinstall lost the kept audit trail"
WBAGENT_PURGE_STATE=yes dpkg --purge wbagent >/dev/null
[ ! -e /var/lib/wbagent ] || fail "WBAGENT_PURGE_STATE=yes left /var/lib/wbagent"
[ ! -e /etc/wbagent ] || fail "purge left /etc/wbagent"

step "install wbcloud on its own"
apt-get install -y -qq --no-install-recommends /debs/wbcloud.deb >/dev/null
wbcloud --version >/dev/null || wbcloud --help >/dev/null || fail "wbcloud does not run"
[ -f /usr/share/man/man1/wbcloud.1.gz ] || fail "no man page wbcloud(1)"
[ ! -e /usr/bin/wbagent ] || fail "wbcloud brought wbagent"
step "all checks passed"
