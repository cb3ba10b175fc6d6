#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with the extras given as arguments.
# Usage: scripts/setup.sh [extra ...]   e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
extras=$(IFS=,; echo "$*")
if [ -n "$extras" ] && [[ ",$extras," == *",dev,"* || ",$extras," == *",export,"* ]]; then
  # The CPU build of torch: PyPI's default linux wheel is a multi-GB CUDA build.
  python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0" \
    || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
if [ -n "$extras" ]; then
  python -m pip install -q -e ".[$extras]"
else
  python -m pip install -q -e .
fi
# Resemblyzer (export extra) requires the sdist `webrtcvad`, whose wrapper imports pkg_resources (gone from
# setuptools >= 81) and may overwrite webrtcvad-wheels' copy of the same module: put the wheels' copy back.
python -c "import webrtcvad" 2>/dev/null || python -m pip install -q --force-reinstall --no-deps "webrtcvad-wheels>=2.0.14"
