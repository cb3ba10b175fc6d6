#!/bin/sh
# Entry point of the export image: writes the Triton model repository to $VOIMID_MODEL_REPOSITORY (/models),
# unless one for the same target is already there (a `docker compose up` must not re-export every time).
# Extra arguments go to `python -m tools.export` (e.g. --checkpoint /weights/campplus.bin --intra-op-threads 4).
# Weights: VOIMID_MODEL_PATH (a checkpoint / snapshot dir / ONNX file) if set, else the ModelScope model.
set -eu
out=${VOIMID_MODEL_REPOSITORY:-/models}
target=${VOIMID_EXPORT_TARGET:-cpu}
manifest="$out/speaker/manifest.json"
if [ "${VOIMID_FORCE_EXPORT:-0}" != 1 ] && [ -f "$manifest" ] && grep -q "\"target\": \"$target\"" "$manifest"; then
  echo "model repository for target $target already in $out (VOIMID_FORCE_EXPORT=1 rebuilds it):"
  cat "$manifest"
  exit 0
fi
exec python -m tools.export --output "$out" --target "$target" "$@"
