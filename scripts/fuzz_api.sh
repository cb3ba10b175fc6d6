#!/usr/bin/env bash
# A long property-based fuzz run of the router API against its own OpenAPI document: schemathesis with every
# check, a real router (the factory app) and a real Triton, through tests/router/test_openapi_fuzz.py (CI runs the
# same test briefly, with a fixed seed). Prints schemathesis's progress and summary; exit 0 means no failure.
# Usage: scripts/fuzz_api.sh [examples per operation and phase (default 200)] [seed (default: random)]
# Environment: VOIMID_FUZZ_CHECKS (default all). Needs the dev extra (scripts/setup.sh dev) and ../shared/audio.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
  . .venv/bin/activate
fi
export VOIMID_FUZZ_EXAMPLES="${1:-200}" VOIMID_FUZZ_SEED="${2:-random}" VOIMID_FUZZ_CHECKS="${VOIMID_FUZZ_CHECKS:-all}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# -s streams schemathesis's output; no per-test timeout: a long run is meant to take long.
exec python -m pytest -q -s -p no:cacheprovider --timeout 0 tests/router/test_openapi_fuzz.py
