#!/usr/bin/env bash
# Validate the Prometheus deployment files: config, rules, rule unit tests, Alertmanager config.
# Needs promtool (Debian: apt-get install prometheus); amtool (prometheus-alertmanager) is
# optional. Usage: deploy/prometheus/check.sh
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v promtool >/dev/null; then
  echo "promtool not found: apt-get install --no-install-recommends prometheus" >&2
  exit 2
fi

promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.yml

if command -v amtool >/dev/null; then
  amtool check-config alertmanager.yml
else
  echo "amtool not found (apt-get install prometheus-alertmanager): alertmanager.yml not checked" >&2
fi
