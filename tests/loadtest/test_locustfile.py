"""The locust profile runs headless against a real router (factory app on a real port, real Triton)."""
from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from router.app import create_app
from router.config import RouterConfig

ROOT = Path(__file__).resolve().parents[2]


async def test_locust_profile_runs_without_failures(router_settings, admin_key, tmp_path):
    # The profile, not admission control, is under test: 4 users without pauses must never be shed here.
    app = create_app(RouterConfig.from_dict(router_settings(overload={"adaptive": False, "max_requests": 16})))
    async with TestServer(app, host="127.0.0.1") as server:
        env = {**os.environ, "VOIMID_LOCUST_KEYS": f"{admin_key},{admin_key}",
               "VOIMID_LOCUST_LOG": str(tmp_path / "requests.jsonl"), "VOIMID_LOCUST_ACKED": str(tmp_path / "acked")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest/locustfile.py"), "--headless",
            "--host", str(server.make_url("")).rstrip("/"), "-u", "4", "-r", "4", "-t", "6s",
            "--csv", str(tmp_path / "run"), "--only-summary", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    with (tmp_path / "run_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["register"]["Request Count"]) >= 4, output.decode()[-2000:]  # one per user at start, then 5 %
    assert int(rows["Aggregated"]["Request Count"]) > 8
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output.decode()[-2000:]
    logged = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert len(logged) >= int(rows["Aggregated"]["Request Count"])  # plus those finishing during the stop
    assert {"register", "verify 1:1", "verify 1:N", "identify"} <= {entry["name"] for entry in logged}
    acked = (tmp_path / "acked").read_text().split()
    assert len(acked) == len(set(acked)) == sum(1 for e in logged if e["name"] == "register" and e["status"] == 201)
