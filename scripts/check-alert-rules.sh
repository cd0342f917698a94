#!/usr/bin/env bash
# The alert rules of contrib/prometheus: `promtool check rules`, then `promtool test rules`
# with the test case of each alert. Run by ctest (metrics_alert_rules_test).
#
#   scripts/check-alert-rules.sh [DIR]    DIR: contrib/prometheus (the default)
#
# Exit 0 when both pass; 1 when one fails; 77 (ctest's skip) when promtool is not installed,
# except in CI (CI=true), where a missing promtool is a failure: it comes from Debian's
# `prometheus` package (scripts/install-deps.sh).
set -euo pipefail
dir=${1:-$(dirname "$0")/../contrib/prometheus}
if ! command -v promtool >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "check-alert-rules: promtool is missing (Debian package prometheus; scripts/install-deps.sh)" >&2
    exit 1
  fi
  echo "check-alert-rules: skipped: promtool is not installed (Debian package prometheus)" >&2
  exit 77
fi
cd "$dir"
promtool check rules wbagent-alerts.yml
promtool test rules wbagent-alerts.test.yml
# Every alert has its test case: an alert without one would pass unseen.
for alert in $(sed -n 's/^ *- alert: *//p' wbagent-alerts.yml); do
  if ! grep -q "alertname: $alert\$" wbagent-alerts.test.yml; then
    echo "check-alert-rules: $alert has no test case in wbagent-alerts.test.yml" >&2
    exit 1
  fi
done
echo "check-alert-rules: every alert checked and tested"
