"""Cost of each Redis durability mode (storage.redis_durability), measured side by side in one run.

Starts its own redis-server processes on free loopback ports in a temporary directory: a master with
the compose default (appendonly yes, appendfsync everysec) and one with appendfsync always, each with
one replica. For each mode it enrolls --users users through the store with --concurrency concurrent
writers and reports acknowledged writes/s and p50/p99 acknowledgement latency, then writes JSON.

  applied        -> everysec master        fsync          -> appendfsync-always master
  replica        -> everysec master + WAIT fsync+replica  -> always master + WAIT
On a server with WAITAOF (Redis >= 7.2, Valkey) the fsync modes run on the everysec master instead: WAITAOF
waits for the fsync that covers the write (group commit), which is what the store does there.

    python loadtest/bench_redis_durability.py --users 2000 --concurrency 16 --out durability.json
    python loadtest/bench_redis_durability.py --server /path/to/redis-server-7.4   # WAITAOF
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from store.config import StorageConfig  # noqa: E402
from store.crypto import generate_key  # noqa: E402
from store.factory import create_store  # noqa: E402

MODES = {"applied": "everysec", "fsync": "always", "replica": "everysec", "fsync+replica": "always"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_version(binary: str) -> tuple[int, ...]:
    text = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    v = text.split("v=")[1].split()[0] if "v=" in text else "0"
    return tuple(int(x) for x in v.split(".")[:2])


def start_redis(binary: str, workdir: Path, *args: str) -> tuple[subprocess.Popen, int]:
    workdir.mkdir(parents=True)
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(workdir), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit(f"redis-server on {port} did not start")
            time.sleep(0.02)
    if "--replicaof" in args:
        while client.info("replication").get("master_link_status") != "up":
            time.sleep(0.02)
    client.close()
    return proc, port


async def run_mode(mode: str, port: int, policy: str, users: int, concurrency: int, dim: int) -> dict:
    config = StorageConfig.from_dict({"type": "redis", "redis_url": f"redis://127.0.0.1:{port}/0",
                                      "redis_prefix": f"bench-{mode}", "encryption_key": generate_key(),
                                      "redis_durability": mode, "redis_wait_timeout_ms": 5000})
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((users, dim)).astype(np.float32)
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with create_store(config) as store:
        async def one(i: int) -> None:
            async with gate:
                t0 = time.perf_counter()
                await store.create_user(f"b{i}", [vectors[i]])
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(users)])
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1e3
    return {"mode": mode, "server_appendfsync": policy, "users": users, "concurrency": concurrency,
            "writes_per_s": round(users / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--dir", help="where the servers keep their AOF (default: a temp dir; put it on the disk "
                                  "you want to measure)")
    ap.add_argument("--out", default="durability.json")
    ap.add_argument("--server", default=shutil.which("redis-server"), help="redis-server (or valkey-server) binary")
    args = ap.parse_args()
    # Valkey 8 reports itself as 8.x and has WAITAOF; Redis has it from 7.2.
    waitaof = server_version(args.server) >= (7, 2)
    modes = {m: ("everysec" if waitaof else p) for m, p in MODES.items()}
    root = Path(tempfile.mkdtemp(prefix="vomid-durability-", dir=args.dir))
    procs, masters = [], {}
    try:
        for policy in ("everysec", "always"):
            proc, port = start_redis(args.server, root / policy, "--appendonly", "yes", "--appendfsync", policy)
            replica, _ = start_redis(args.server, root / f"{policy}-replica", "--replicaof", "127.0.0.1", str(port))
            procs += [proc, replica]
            masters[policy] = port
        rows = [await run_mode(mode, masters[policy], policy, args.users, args.concurrency, args.dim)
                for mode, policy in modes.items()]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0]["writes_per_s"]
    print(f"{'mode':<15}{'server':<10}{'writes/s':>10}{'vs applied':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for r in rows:
        print(f"{r['mode']:<15}{r['server_appendfsync']:<10}{r['writes_per_s']:>10}"
              f"{r['writes_per_s'] / base:>11.2f}x{r['p50_ms']:>10}{r['p99_ms']:>10}")
    Path(args.out).write_text(json.dumps({"machine": platform.node(), "redis": subprocess.run(
        [args.server, "--version"], capture_output=True, text=True).stdout.strip(), "waitaof": waitaof,
        "results": rows}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
