"""`python -m tests.audio.peak_rss FILE`: decodes FILE in this fresh process, prints what happened as JSON.

{"outcome": "decoded" | <AudioError code>, "seconds": output length, "extra_peak_mb": peak RSS growth during the
decode}. The file's bytes are read first, as the router holds an upload, so only the decoder's own memory counts.
"""
from __future__ import annotations

import json
import resource
import sys
import time

from audio import AudioError, AudioLimits, decode


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    data = open(sys.argv[1], "rb").read()
    limits = AudioLimits(max_seconds=float(sys.argv[2]) if len(sys.argv) > 2 else 30.0)
    before = peak_mb()
    started = time.perf_counter()
    try:
        outcome, seconds = "decoded", decode(data, limits).size / 16000
    except AudioError as error:
        outcome, seconds = error.code, 0.0
    print(json.dumps({"outcome": outcome, "seconds": seconds, "extra_peak_mb": peak_mb() - before,
                      "cpu_s": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
