#!/usr/bin/env bash
# Sets up .venv and brings up the embedded stack: tritonserver serving CAM++ + the router + the file store.
# Arguments go to `vomid up`, e.g. --checkpoint campplus_cn_3dspeaker.bin, --onnx model.onnx, --random-weights.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh export
exec .venv/bin/python -m vomid up "$@"
