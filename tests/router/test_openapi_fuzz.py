"""Property-based fuzzing of the real router (factory app, real Triton) against its own OpenAPI document.

Schemathesis (its CLI, in a subprocess) reads /api/v1/openapi.json, generates requests from it (boundary values,
random valid and invalid data, register -> get/enroll/delete sequences through the spec's links) and checks every
answer: never a 5xx, a documented status, a body matching its schema, the documented media type and headers, valid
requests accepted and invalid ones refused. tests/router/fuzz_hooks.py puts real speech into the requests, so
valid requests really get 2xx.

CI runs a short, seeded run (about 300 cases, 15-20 s). `scripts/fuzz_api.sh` runs a long one through this same
test with VOIMID_FUZZ_EXAMPLES (cases per operation and phase), VOIMID_FUZZ_CHECKS and VOIMID_FUZZ_SEED ("random").
"""
from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import pytest

from router import state
from tests.audio.files import encode

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("VOIMID_FUZZ_EXAMPLES", "3"))
# Every check: beyond no 5xx, documented statuses, bodies, media types and headers, valid data must be accepted and
# invalid data refused, undocumented methods get 405 with Allow, a deleted user is gone, auth is never ignored.
CHECKS = os.environ.get("VOIMID_FUZZ_CHECKS", "all")
SEED = os.environ.get("VOIMID_FUZZ_SEED", "20261127")  # "random": a new seed, printed in the summary
# Formats a client may send: (format, sample rate, channels).
CLIP_FORMATS = (("wav16", 16000, 1), ("flac", 44100, 2), ("mp3", 22050, 1), ("ogg", 48000, 2), ("m4a", 16000, 1))


@pytest.fixture(scope="module")
def clips_dir(speech, tmp_path_factory) -> Path:
    """Two seconds of real speech from different speakers, in every format a client may send."""
    folder = tmp_path_factory.mktemp("fuzz_audio")
    speakers = list(speech.values())
    for n, (fmt, rate, channels) in enumerate(CLIP_FORMATS):
        clip = speakers[n % len(speakers)][0][8000:40000]
        (folder / f"{n}.{fmt}").write_bytes(encode(clip, fmt, rate, channels))
    return folder


async def run_schemathesis(url: str, key: str, clips: Path, workdir: Path) -> tuple[int, str]:
    args = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/api/v1/openapi.json", "--checks", CHECKS,
            "--max-examples", str(EXAMPLES), "--header", f"X-API-Key: {key}", "--workers", "1", "--no-color",
            "--generation-database", "none", "--request-timeout", "30",
            # Every request authenticates with the admin key; auth itself is tested by tests/router/test_auth.py.
            "--generation-with-security-parameters", "false"]
    if SEED != "random":
        args += ["--seed", SEED]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.router.fuzz_hooks", "VOIMID_FUZZ_AUDIO_DIR": str(clips),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = await asyncio.create_subprocess_exec(*args, cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    chunks = []
    # Echoed as it comes (the long run shows progress with `pytest -s`); in chunks, as a reproduction line may be
    # longer than any line limit.
    while chunk := await process.stdout.read(1 << 16):
        chunks.append(chunk.decode(errors="replace"))
        sys.stdout.write(chunks[-1])
        sys.stdout.flush()
    return await process.wait(), "".join(chunks)


def answered(app, route: str, method: str, status: str) -> float:
    value = app[state.METRICS].registry.get_sample_value(
        "vomid_http_requests_total", {"route": route, "method": method, "status": status})
    return value or 0.0


async def test_generated_requests_get_documented_answers(make_client, router_settings, admin_key, clips_dir,
                                                         tmp_path):
    # Its own app (its own memory store): the users the fuzzer registers must not meet other tests' users.
    # Room for every labelling job the run submits: a full job queue answers 503, which the fuzzer counts as a failure.
    client = await make_client(router_settings(audit={"enabled": False}, recordings={"max_jobs": 1000}))
    started = time.perf_counter()
    rc, output = await run_schemathesis(str(client.make_url("")).rstrip("/"), admin_key, clips_dir, tmp_path)
    elapsed = time.perf_counter() - started
    generated = re.search(r"(\d+) generated", output)
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-4000:]
    print(f"\nschemathesis: {generated.group(1) if generated else '?'} cases in {elapsed:.1f}s "
          f"({EXAMPLES} examples per operation, checks {CHECKS})")
    assert rc == 0, f"schemathesis found failures (exit {rc}):\n{output[-12000:]}"
    assert generated and int(generated.group(1)) >= 100, summary
    app = client.app
    statuses = {s.labels["status"] for m in app[state.METRICS].requests.collect() for s in m.samples}
    assert not {s for s in statuses if s.startswith("5")}, statuses  # what not_a_server_error checked, again
    # The valid requests carried real speech and were accepted: the fuzzer reached the success paths.
    assert answered(app, "/api/v1/voiceprint/register", "POST", "201") > 0, summary
    assert answered(app, "/api/v1/voiceprint/verify", "POST", "200") > 0, summary
    assert answered(app, "/api/v1/voiceprint/identify", "POST", "200") > 0, summary
    assert answered(app, "/api/v1/recordings", "POST", "202") > 0, summary
