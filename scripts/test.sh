#!/usr/bin/env bash
# Sets up .venv with the dev extras, makes sure redis-server exists, and runs the test suite.
# Extra arguments go to pytest. pytest's exit 5 (no tests collected) is not a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel postgresql >/dev/null
  else
    echo "redis-server or postgresql not found: their tests will be skipped (apt-get install redis-server postgresql)" >&2
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
