#!/usr/bin/env bash
# Sets up .venv with the dev extras, installs the system tools the tests run for real (Redis + Sentinel, nginx,
# Prometheus/promtool, openssl, iproute2), and runs the test suite.
# Extra arguments go to pytest. pytest's exit 5 (no tests collected) is not a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="redis-server redis-sentinel nginx prometheus openssl iproute2 postgresql"
missing=""
for tool in redis-server redis-sentinel nginx prometheus promtool openssl ip; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing="$missing $tool"
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing initdb"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
    # The Debian packages start their own daemons: the tests start private ones on free ports instead.
    for service in nginx prometheus redis-server redis-sentinel postgresql; do
      service "$service" stop >/dev/null 2>&1 || true
    done
  else
    echo "missing:$missing; the tests that need them skip (apt-get install $APT_PACKAGES)" >&2
  fi
fi
scripts/setup.sh dev
. .venv/bin/activate
set +e
python -m pytest -ra "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests"
  exit 0
fi
exit "$rc"
