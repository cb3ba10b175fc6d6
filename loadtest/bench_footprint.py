"""The embedded stack's footprint on an edge box: memory per process, cold start, growth under use, install size.

    python -m loadtest.bench_footprint [--models campplus ge2e] [--enrollments 1000] [--verify-minutes 10]
                                       [--aarch64] [--json loadtest/results/footprint.json]

For each model, a site folder gets an exported repository (CAM++: random weights, the same size and cost as real
ones; GE2E: its packaged weights), then `python -m vomid up` runs there exactly as shipped (default config, file
store, auth on). Reported per model:
- cold start: from launching `vomid up` to /health answering 200 (repository already exported);
- idle RSS of every process of the stack (router, tritonserver, each python-backend stub by model) and the total;
  and PSS, the same with each shared page split among the processes mapping it: a sum of RSS counts the shared
  libraries (libpython, numpy, onnxruntime) and the Triton<->stub shared-memory regions once per process, so PSS's
  total is the memory the stack really takes from the box;
- RSS after `--enrollments` registrations of real speech (../shared/audio) through the SDK;
- RSS sampled during `--verify-minutes` of closed-loop 1:1 verify traffic (2 clients), with the growth over the
  second half (a leak shows as steady growth once caches are warm).
Once per run: the base install's size (the distributions `pip install edge-vomid` pulls in, without extras) and
the largest of them; with --aarch64, whether every base requirement resolves to wheels for 64-bit ARM
(`pip download --only-binary=:all: --platform manylinux_2_35_aarch64` and the older glibc tags, needs the
package index).
Targets from the edge profile: <= 300 MB idle in total with the fp32 model, <= 3 s cold start, base install <= 600 MB.
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psutil
from packaging.requirements import Requirement

from client import RetryPolicy, VoMIDClient
from engine.contract import CAMPPLUS, FAMILIES
from loadtest.meetings import read_clips
from loadtest.report import machine, write_report
from loadtest.repository import benchmark_repository
from vomid.tritonserver import free_port

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
KEY = re.compile(r"^\s+(vmd_\S+)\s*$", re.MULTILINE)
MB = 1024 * 1024
# pip takes a --platform literally: a glibc 2.35 box (Ubuntu 22.04, nvidia-pytriton's floor) also runs the older tags.
ARM64_PLATFORMS = [arg for tag in ("manylinux_2_35", "manylinux_2_28", "manylinux_2_17", "manylinux2014")
                   for arg in ("--platform", f"{tag}_aarch64")]
TARGETS = {"idle_total_mb": 300, "cold_start_s": 3.0, "base_install_mb": 600}


class Stack:
    """`python -m vomid up` in `site`, its output collected; stopped with Ctrl-C as an operator would."""

    def __init__(self, site: Path):
        self.site, self.port, self.output = site, free_port(), []
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300) -> float:
        started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "vomid", "up", "--port", str(self.port)],
                                        cwd=self.site, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=lambda: self.output.extend(self.process.stdout), daemon=True).start()
        # One attempt per poll: the SDK's default retries would wait out a refused connection for ~1.8 s and
        # measure its own back-off instead of the start-up.
        client = VoMIDClient(self.url, retry=RetryPolicy(max_attempts=1), timeout=1.0)
        while time.perf_counter() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"vomid up exited {self.process.returncode}: {''.join(self.output)[-2000:]}")
            try:
                if client.health().ready:
                    return time.perf_counter() - started
            except Exception:  # not listening yet
                pass
            time.sleep(0.02)
        raise RuntimeError(f"vomid up not ready after {timeout_s} s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_key(self) -> str:
        found = KEY.search("".join(self.output))
        if not found:
            raise RuntimeError("vomid up printed no admin key")
        return found.group(1)

    def rss(self) -> dict[str, float]:
        """RSS in MB per process of the stack, by role, plus the total."""
        return self._by_role(lambda proc: proc.memory_info().rss)

    def pss(self) -> dict[str, float]:
        """PSS (shared pages split among their sharers) in MB per process of the stack, by role, plus the total."""
        return self._by_role(lambda proc: proc.memory_full_info().pss)

    def _by_role(self, measure) -> dict[str, float]:
        root = psutil.Process(self.process.pid)
        rows: dict[str, float] = {}
        for proc in [root, *root.children(recursive=True)]:
            try:
                role = role_of(proc.cmdline(), proc.pid == root.pid)
                rows[role] = rows.get(role, 0.0) + measure(proc) / MB
            except psutil.NoSuchProcess:
                continue
        return {role: round(mb, 1) for role, mb in sorted(rows.items())} | {"total": round(sum(rows.values()), 1)}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def role_of(cmdline: list[str], is_root: bool) -> str:
    if is_root:
        return "router (vomid up)"
    name = Path(cmdline[0]).name if cmdline else "?"
    if "triton_python_backend_stub" in name:
        model = re.search(r"/([^/]+)/\d+/model\.py", " ".join(cmdline))
        return f"python stub: {model.group(1) if model else '?'}"
    return name


def speech_files(limit: int = 40) -> list[Path]:
    clips = sorted(read_clips(SHARED_AUDIO), key=lambda c: c.path)
    return [c.path for c in clips if 2.0 <= c.seconds <= 12.0][:limit]


def enroll(client: VoMIDClient, files: list[Path], count: int) -> tuple[list[str], float]:
    started = time.perf_counter()
    def register(i: int) -> str:
        return client.register_voiceprint(name=f"user {i}", audio_file=str(files[i % len(files)]))

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(register, range(count)))
    return ids, time.perf_counter() - started


def verify_traffic(stack: Stack, client: VoMIDClient, files: list[Path], user_id: str, minutes: float) -> dict:
    """Two closed-loop clients for `minutes`; RSS sampled every 5 s."""
    stop_at = time.perf_counter() + minutes * 60
    answered = [0, 0]

    def loop(worker: int) -> None:
        n = worker
        while time.perf_counter() < stop_at:
            client.verify_voiceprint(audio_file=str(files[n % len(files)]), user_id=user_id)
            answered[worker] += 1
            n += 2

    samples = []
    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in range(2)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    while any(t.is_alive() for t in threads):
        samples.append((time.perf_counter() - started, stack.rss()["total"]))
        time.sleep(5)
    for thread in threads:
        thread.join()
    half = [mb for t, mb in samples if t >= minutes * 30]
    return {"requests": sum(answered), "rss_total_mb_start": samples[0][1], "rss_total_mb_end": samples[-1][1],
            "rss_total_mb_max": max(mb for _, mb in samples),
            "growth_second_half_mb": round(half[-1] - half[0], 1) if len(half) > 1 else 0.0,
            "samples": samples}


def measure_model(model: str, given: Path | None, args) -> dict:
    files = speech_files()
    with tempfile.TemporaryDirectory(prefix=f"vomid-footprint-{model}-") as tmp, ExitStack() as stack_ctx:
        site = Path(tmp)
        repository = stack_ctx.enter_context(benchmark_repository(given, model=model))
        (site / "model_repository").symlink_to(repository.resolve(), target_is_directory=True)
        stack = Stack(site)
        try:
            cold_start_s = stack.start()
            time.sleep(args.settle_s)
            idle, idle_pss = stack.rss(), stack.pss()
            print(f"{model}: cold start {cold_start_s:.2f} s, idle RSS {idle}, PSS {idle_pss}", flush=True)
            client = VoMIDClient(stack.url, api_key=stack.api_key())
            ids, enroll_s = enroll(client, files, args.enrollments)
            enrolled = stack.rss()
            print(f"{model}: after {len(ids)} enrollments ({len(ids) / enroll_s:.1f}/s): {enrolled}", flush=True)
            traffic = verify_traffic(stack, client, files, ids[0], args.verify_minutes) if args.verify_minutes else None
            if traffic:
                print(f"{model}: {args.verify_minutes} min of verify ({traffic['requests']} requests): total RSS "
                      f"{traffic['rss_total_mb_start']} -> {traffic['rss_total_mb_end']} MB, growth over the second "
                      f"half {traffic['growth_second_half_mb']} MB", flush=True)
        finally:
            stack.stop()
    return {"cold_start_s": round(cold_start_s, 2), "idle_rss_mb": idle, "idle_pss_mb": idle_pss,
            "enrollments": len(ids),
            "enroll_per_s": round(len(ids) / enroll_s, 1), "rss_after_enrollments_mb": enrolled, "verify": traffic}


def installed_requirements(distribution: str) -> list[Requirement]:
    """What a plain `pip install <distribution>` pulls in (requirements behind an extra left out)."""
    requirements = [Requirement(r) for r in metadata.requires(distribution) or []]
    return [r for r in requirements if not r.marker or r.marker.evaluate({"extra": ""})]


def base_requirements() -> list[Requirement]:
    return installed_requirements("edge-vomid")


def base_install_size() -> dict:
    """Bytes on disk of the base requirements and everything they pull in, as installed here."""
    seen: dict[str, int] = {}
    pending = [r.name for r in base_requirements()]
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = sum((f.size or 0) for f in dist.files or [])
        pending += [r.name for r in installed_requirements(name)]
    largest = sorted(seen.items(), key=lambda kv: -kv[1])[:8]
    return {"total_mb": round(sum(seen.values()) / MB, 1), "distributions": len(seen),
            "torch_included": "torch" in seen, "largest_mb": {k: round(v / MB, 1) for k, v in largest}}


def aarch64_check() -> dict:
    """Which base requirements have no 64-bit ARM wheel? Each one found is set aside and the rest resolved again
    (wheels are downloaded into a temporary folder)."""
    requirements, without_wheels = [str(r) for r in base_requirements()], []
    with tempfile.TemporaryDirectory(prefix="vomid-aarch64-") as tmp:
        while True:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *ARM64_PLATFORMS,
                 "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}", "-d", tmp,
                 *requirements], capture_output=True, text=True)
            missing = re.search(r"No matching distribution found for (\S+)", result.stderr)
            if result.returncode == 0 or not missing:
                break
            name = Requirement(missing.group(1)).name
            without_wheels.append(missing.group(1))
            kept = [r for r in requirements if Requirement(r).name != name]
            if len(kept) == len(requirements):  # a dependency of a dependency: nothing left to set aside
                break
            requirements = kept
        size = sum(p.stat().st_size for p in Path(tmp).glob("*.whl"))
    return {"resolves": not without_wheels and result.returncode == 0, "without_arm64_wheels": without_wheels,
            "others_resolve": result.returncode == 0, "download_mb": round(size / MB, 1),
            "error": None if result.returncode == 0 else result.stderr.strip().splitlines()[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=tuple(FAMILIES), default=[CAMPPLUS.name, "ge2e"])
    parser.add_argument("--repository", action="append", default=[], metavar="MODEL=DIR",
                        help="use this exported repository for MODEL instead of exporting one")
    parser.add_argument("--enrollments", type=int, default=1000)
    parser.add_argument("--verify-minutes", type=float, default=10.0)
    parser.add_argument("--settle-s", type=float, default=5.0, help="wait after ready before the idle sample")
    parser.add_argument("--aarch64", action="store_true", help="check that the base install resolves on ARM64")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/footprint.json"))
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.repository)
    report = {"benchmark": "footprint", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(),
              "targets": TARGETS, "base_install": base_install_size(), "models": {}}
    print(f"base install: {report['base_install']}", flush=True)
    if args.aarch64:
        report["aarch64"] = aarch64_check()
        print(f"aarch64: {report['aarch64']}", flush=True)
    for model in args.models:
        report["models"][model] = measure_model(model, Path(given[model]) if model in given else None, args)
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
