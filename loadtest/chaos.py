"""`python -m loadtest.chaos`: load + faults on the local cluster, as a Markdown + PNG report (a program, not a test).

Starts the local cluster (scripts/deploy.sh --local's topology, from the shipped configs) with triton-0 in its own
network namespace, measures saturation through nginx with locust, then offers 60 % of it for --duration seconds
(mix: register 5 %, verify 1:1 55 %, verify 1:N 25 %, identify 15 %; one API key per simulated user, so the rate
limiter does not shape the load) while faults happen at fixed fractions of the run:

  10 % SIGKILL triton-1            22 % restart it
  33 % SIGKILL router voimid-1     40 % restart it
  50 % SIGKILL the Redis master    67 % restart it (Sentinel has promoted a replica; the old master rejoins)
  75 % cut triton-0 off the network (veth link down) for 20 s (scaled by --compress), then restore it

Afterwards every acknowledged registration must be listed through the API. Needs root (network namespaces),
nginx, redis-server/-sentinel, prometheus and iproute2. A smoke check: --duration 20 --saturation-seconds 8
--compress 0.2. The full run: --duration 180 (the default).
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from cluster import secrets
from cluster.local import LocalCluster
from cluster.spec import ClusterSpec
from loadtest import chaos_report
from loadtest.repository import benchmark_repository

log = logging.getLogger("chaos")
ROOT = Path(__file__).resolve().parents[1]
CUT = "triton-0"


def schedule(duration: float, compress: float) -> list[tuple[float, str, str, str]]:
    """(seconds after load start, phase label, action, service); the Redis master is resolved at fault time."""
    cut = 0.75 * duration
    return [(0.10 * duration, "SIGKILL triton-1", "kill", "triton-1"),
            (0.22 * duration, "restart triton-1", "start", "triton-1"),
            (0.33 * duration, "SIGKILL voimid-1", "kill", "voimid-1"),
            (0.40 * duration, "restart voimid-1", "start", "voimid-1"),
            (0.50 * duration, "SIGKILL redis master", "kill", "redis-master"),
            (0.67 * duration, "restart old master", "start", "redis-master"),
            (cut, f"cut {CUT} network", "cut", CUT),
            (cut + 20.0 * compress, f"restore {CUT} network", "restore", CUT)]


class Faults(threading.Thread):
    """Runs the schedule against the cluster, recording when each fault really happened."""

    def __init__(self, cluster: LocalCluster, plan, origin: float):
        super().__init__(name="faults", daemon=True)
        self.cluster, self.plan, self.origin = cluster, plan, origin
        self.events: list[tuple[float, str]] = []
        self.killed_master: str | None = None

    def run(self) -> None:
        for at, label, action, service in self.plan:
            time.sleep(max(0.0, self.origin + at - time.time()))  # fixed times, not after the previous fault
            if service == "redis-master":
                service = self.killed_master if action == "start" else self.cluster.redis_master()
                self.killed_master = service
            self.events.append((time.time(), label))
            log.info("t=%.1f %s", time.time() - self.origin, label)
            try:
                if action == "kill":
                    self.cluster.kill(service)
                elif action == "start":  # in the background: a slow start must not delay the next fault
                    threading.Thread(target=self.cluster.start, args=(service,), daemon=True).start()
                else:
                    getattr(self.cluster.net_host(service), action)()
            except Exception:  # noqa: BLE001 - a failed fault is reported, the run goes on
                log.exception("fault %s failed", label)


def locust(cluster: LocalCluster, out: Path, keys: list[str], users: int, seconds: float, name: str,
           rate: float = 0.0, audio: Path | None = None) -> Path:
    logfile = out / f"{name}.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOIMID_LOCUST_KEYS": ",".join(keys),
           "VOIMID_CA_FILE": str(cluster.cafile), "VOIMID_LOCUST_LOG": str(logfile),
           "VOIMID_LOCUST_ACKED": str(out / "acked.txt"), "VOIMID_LOCUST_RATE": str(rate)}
    if audio:
        env["VOIMID_LOCUST_AUDIO"] = str(audio)
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
               "--host", cluster.url, "-u", str(users), "-r", str(users), "-t", f"{max(1, round(seconds))}s",
               "--only-summary", "--csv", str(out / name)]
    subprocess.run(command, env=env, cwd=out, stdout=(out / f"{name}.out").open("w"), stderr=subprocess.STDOUT,
                   check=False, timeout=seconds + 120)
    return logfile


def saturation(logfile: Path, warmup: float) -> float:
    entries = chaos_report.load_requests(logfile)
    start = min(e["t"] for e in entries) + warmup
    answered = [e for e in entries if e["t"] >= start and not chaos_report.failed(e)]
    return len(answered) / max(max(e["t"] for e in entries) - start, 1e-9)


def missing_registrations(cluster: LocalCluster, acked: Path) -> list[str]:
    expected = set(acked.read_text().split()) if acked.exists() else set()
    listed, offset = set(), 0
    session = requests.Session()
    session.trust_env = False
    while True:
        page = session.get(f"{cluster.url}/api/v1/voiceprints", params={"offset": offset, "limit": 500},
                           headers={"X-API-Key": cluster.admin_key()}, verify=str(cluster.cafile), timeout=30)
        page.raise_for_status()
        items = page.json()["items"]
        listed |= {item["user_id"] for item in items}
        offset += len(items)
        if not items or offset >= page.json()["total"]:
            return sorted(expected - listed)


def speech_file() -> Path | None:
    shared = ROOT.parent / "shared" / "audio"
    candidates = sorted(shared.glob("sr-data/**/*.wav")) if shared.is_dir() else []
    return candidates[0] if candidates else None


def run(args) -> str:
    out = (args.out or ROOT / "loadtest" / "results" / time.strftime("chaos-%Y%m%dT%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.jsonl"), out / "acked.txt"]:  # locust appends: an earlier run's lines would count
        stale.unlink(missing_ok=True)
    with benchmark_repository(args.model_repository) as repository:
        directory = args.cluster_dir or Path(tempfile.mkdtemp(prefix="vomid-chaos-"))
        spec = ClusterSpec(directory=directory, model_repository=repository, routers=args.routers,
                           tritons=args.tritons, isolated=(CUT,))
        cluster = LocalCluster.create(spec)
        secrets.ensure(cluster.secrets_dir)
        keys = secrets.add_keys(cluster.secrets_dir, args.users)  # one key (one rate-limit budget) per user
        try:
            cluster.deploy()
            audio = speech_file()
            sat = args.saturation or saturation(
                locust(cluster, out, keys, args.users, args.saturation_seconds, "saturation", audio=audio),
                warmup=args.saturation_seconds / 4)
            target = 0.6 * sat
            origin = time.time()
            faults = Faults(cluster, schedule(args.duration, args.compress), origin)
            faults.start()
            logfile = locust(cluster, out, keys, args.users, args.duration, "load", rate=target / args.users,
                             audio=audio)
            faults.join(timeout=120)
            end = origin + args.duration
            for name in cluster.state.names():  # anything a fault left down comes back before the final count
                cluster.start(name)
            lost = missing_registrations(cluster, out / "acked.txt")
            acked = len((out / "acked.txt").read_text().split()) if (out / "acked.txt").exists() else 0
            context = {"description": f"{args.routers} routers, {args.tritons} Triton instances, Redis master + 2 "
                       f"replicas + 3 Sentinels, nginx (TLS); {os.cpu_count()} CPU cores.",
                       "saturation_rps": sat, "target_rps": target, "users": args.users}
            requests_log = [r for r in chaos_report.load_requests(logfile)]
            return chaos_report.write(out, requests_log, faults.events, origin, end, context, lost, acked)
        finally:
            if not args.keep:
                cluster.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="load window with faults, seconds")
    parser.add_argument("--compress", type=float, default=1.0, help="scales the 20 s network cut")
    parser.add_argument("--saturation", type=float, help="req/s at saturation (skip measuring it)")
    parser.add_argument("--saturation-seconds", type=float, default=40.0)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--routers", type=int, default=2)
    parser.add_argument("--tritons", type=int, default=2)
    parser.add_argument("--model-repository", type=Path, help="default: a random-weight export (speed ignores weights)")
    parser.add_argument("--cluster-dir", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--out", type=Path, help="report directory (default loadtest/results/chaos-<time>)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if os.geteuid() != 0:
        print("error: the network cut needs root (ip netns)", file=sys.stderr)
        return 2
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
