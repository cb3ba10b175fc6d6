#!/usr/bin/env bash
# Mutation check of the decision and data paths with mutmut (config: [tool.mutmut] in pyproject.toml).
# Not part of CI (tens of minutes): run it after changing one of these modules or their fast tests.
#
#   scripts/mutation.sh                      every module below, from scratch (mutants/ is rebuilt)
#   scripts/mutation.sh store.crypto ...     only these modules
#   KEEP=1 scripts/mutation.sh router.auth   reuse mutants/ and the cached test mapping of a previous run
#
# Each module runs on its own, at low priority (nice), against the fast unit tests only (tests/**/test_*_fast.py
# and a few fast tests beside them: see pytest_add_cli_args_test_selection). Then a table per module:
# killed (a timeout counts as killed), survived, no tests, and the kill rate; exit status 1 when a module is
# under TARGET percent (default 90). Survivors are listed, and explained in tests/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

MODULES=(router.service router.intake router.auth router.ratelimit
         store.backup store.records store.crypto client.scoring.metrics
         router.admission router.concurrency router.idempotency store.escrow)
[ $# -gt 0 ] && MODULES=("$@")
TARGET=${TARGET:-90}
JOBS=${JOBS:-2}

if [ -x .venv/bin/mutmut ]; then
    MUTMUT=.venv/bin/mutmut PYTHON=.venv/bin/python
elif command -v mutmut >/dev/null; then
    MUTMUT=mutmut PYTHON=python
else
    echo "mutmut is not installed: pip install -e '.[dev]'" >&2
    exit 2
fi
# The tests must import the mutated copy in mutants/, never this checkout: mutmut removes the checkout from
# sys.path; PYTHONPATH only has to name it for what mutmut itself imports.
export PYTHONPATH="$PWD"

[ "${KEEP:-0}" = 1 ] || rm -rf mutants
for module in "${MODULES[@]}"; do
    echo "=== $module"
    nice -n 10 "$MUTMUT" run --max-children "$JOBS" "$module.*" >"mutants.$module.log" 2>&1 \
        || { tail -40 "mutants.$module.log"; echo "mutmut failed on $module (log: mutants.$module.log)" >&2; exit 2; }
    tail -3 "mutants.$module.log" | tr '\r' '\n' | tail -2
    mv "mutants.$module.log" "mutants/$module.log"
done

"$PYTHON" - "$MUTMUT" "$TARGET" "${MODULES[@]}" <<'EOF'
import collections
import subprocess
import sys

mutmut, target, modules = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
listing = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
counts = {m: collections.Counter() for m in modules}
survivors = collections.defaultdict(list)
for line in listing.splitlines():
    name, _, status = line.strip().rpartition(": ")
    module = name.split(".x", 1)[0]
    if module in counts and status != "not checked":
        counts[module][status] += 1
        if status not in ("killed", "timeout"):
            survivors[module].append(f"{name} ({status})")
columns = ("mutants", "killed", "timeout", "survived", "no tests", "rate")
print("\n" + f"{'module':<24}" + "".join(f"{c:>10}" for c in columns))
low = []
for m, c in counts.items():
    total = sum(c.values())
    rate = 100.0 * (c["killed"] + c["timeout"]) / total if total else 0.0
    if rate < target:
        low.append(m)
    row = (total, c["killed"], c["timeout"], c["survived"], c["no tests"])
    print(f"{m:<24}" + "".join(f"{v:>10}" for v in row) + f"{rate:>9.1f}%")
for m, names in survivors.items():
    print(f"\nnot killed in {m} (see them with: mutmut show NAME):")
    print("\n".join("  " + n for n in names))
if low:
    print(f"\nunder {target:g}% killed: {', '.join(low)}")
    sys.exit(1)
EOF
