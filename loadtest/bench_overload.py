"""Goodput under overload: REST verify (3 s clips) offered at 0.5x, 1x, 2x and 3x the measured saturation rate.

Starts `--tritons` tritonservers and the router as a real process (memory store, auth and rate limits off,
admission control as configured), measures closed-loop saturation, then offers open-loop load at each level for
`--seconds`, side by side in one run. For each level: goodput (200s per second), statuses, p50/p99 of the admitted
requests, 503s without Retry-After, client timeouts, Triton instances ejected, the router's peak RSS; then how long
after the 3x spike throughput is back at saturation. Writes JSON and a PNG plot of goodput vs offered load.
Target: goodput at 3x >= 0.9 x goodput at 1x (no congestion collapse).

    python -m loadtest.bench_overload [--seconds 20] [--levels 0.5 1 2 3] [--max-requests 16] [--static]
                                      [--latency-tolerance 2 --min-requests 2]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from loadtest.bench_router import speech_clips, wav_bytes
from loadtest.load import (RouterProcess, closed_loop, goodput_bins, metric_total, open_loop, register,
                           summarize)
from loadtest.repository import benchmark_repository
from vomid.tritonserver import TritonServer

TARGET = 0.9
EJECTIONS = "vomid_triton_ejections_total"


async def saturation(url: str, payloads: list[bytes], user_id: str, levels: list[int], seconds: float) -> dict:
    await closed_loop(url, payloads, user_id, 2, 2.0)  # warm-up
    rows = {c: summarize(await closed_loop(url, payloads, user_id, c, seconds), seconds) for c in levels}
    best = max(rows, key=lambda c: rows[c]["goodput_per_s"])
    return {"by_concurrency": {str(c): r for c, r in rows.items()}, "concurrency": best,
            "rate_per_s": rows[best]["goodput_per_s"]}


async def recovery_s(url: str, payloads: list[bytes], user_id: str, concurrency: int, rate: float,
                     seconds: float = 5.0, bin_s: float = 0.5) -> float | None:
    """Seconds after the spike until closed-loop goodput is back at 90 % of saturation (None: not within)."""
    bins = goodput_bins(await closed_loop(url, payloads, user_id, concurrency, seconds), bin_s, seconds)
    recovered = next((i for i, g in enumerate(bins) if g >= TARGET * rate), None)
    return None if recovered is None else recovered * bin_s


async def run(router: RouterProcess, clips: list, args: argparse.Namespace) -> dict:
    await router.wait_ready()
    payloads = [wav_bytes(c) for c in clips]
    user_id = await register(router.url, payloads[0])
    sat = await saturation(router.url, payloads, user_id, args.concurrency, args.saturation_seconds)
    levels = {}
    for level in args.levels:
        ejected_before = await metric_total(router.url, EJECTIONS)
        answers = await open_loop(router.url, payloads, user_id, level * sat["rate_per_s"], args.seconds)
        row = summarize(answers, args.seconds)
        row |= {"offered_x": level, "offered_per_s": level * sat["rate_per_s"],
                "ejected": await metric_total(router.url, EJECTIONS) - ejected_before, **router.memory_mb()}
        levels[f"{level:g}"] = row
    after = await recovery_s(router.url, payloads, user_id, sat["concurrency"], sat["rate_per_s"])
    return {"saturation": sat, "levels": levels, "recovery_after_spike_s": after}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(report["levels"].values())
    offered = [r["offered_per_s"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(offered, [r["goodput_per_s"] for r in rows], "o-", label="goodput (200/s)")
    ax.plot(offered, offered, ":", color="grey", label="offered")
    ax.axhline(report["saturation"]["rate_per_s"], color="tab:red", ls="--", label="closed-loop saturation")
    ax.set_xlabel("offered load (req/s)")
    ax.set_ylabel("req/s")
    ax.set_title("REST verify under overload (3 s clips)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(report: dict) -> None:
    sat = report["saturation"]
    print(f"closed-loop saturation: {sat['rate_per_s']:.1f} req/s at concurrency {sat['concurrency']}")
    print(f"{'offered':>8}{'req/s':>8}{'goodput':>9}{'p50 ms':>9}{'p99 ms':>9}{'503 no RA':>10}{'timeouts':>9}"
          f"{'ejected':>8}{'peak MB':>9}  statuses")
    for row in report["levels"].values():
        p50, p99 = (f"{row[k]:.0f}" if row[k] is not None else "-" for k in ("p50_ms", "p99_ms"))
        print(f"{row['offered_x']:>7g}x{row['offered_per_s']:>8.1f}{row['goodput_per_s']:>9.1f}{p50:>9}{p99:>9}"
              f"{row['unavailable_without_retry_after']:>10}{row['client_timeouts']:>9}{row['ejected']:>8.0f}"
              f"{row['peak_mb']:>9.0f}  {row['statuses']}")
    print(f"goodput at 3x / goodput at 1x: {report['ratio_3x_vs_1x']:.2f} (target >= {TARGET}); "
          f"back at saturation {report['recovery_after_spike_s']} s after the spike")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, help="model repository (default: export random weights)")
    parser.add_argument("--tritons", type=int, default=2)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--saturation-seconds", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each offered level")
    parser.add_argument("--levels", type=float, nargs="+", default=[0.5, 1, 2, 3])
    parser.add_argument("--max-requests", type=int, default=None, help="overload.max_requests of the router")
    parser.add_argument("--latency-tolerance", type=float, default=None, help="overload.latency_tolerance")
    parser.add_argument("--min-requests", type=int, default=None, help="overload.min_requests")
    parser.add_argument("--static", action="store_true", help="overload.adaptive: false (max_requests is the limit)")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/overload.json"))
    parser.add_argument("--plot", type=Path, default=Path("loadtest/results/overload.png"))
    args = parser.parse_args(argv)
    clips = speech_clips(args.clips)
    overload = {key: value for key, value in (("max_requests", args.max_requests),
                                              ("latency_tolerance", args.latency_tolerance),
                                              ("min_requests", args.min_requests)) if value is not None}
    if args.static:
        overload["adaptive"] = False
    with benchmark_repository(args.repository) as repository, contextlib.ExitStack() as stack:
        tritons = [stack.enter_context(TritonServer(repository, name=f"bench-overload-{i}"))
                   for i in range(args.tritons)]
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        router = stack.enter_context(RouterProcess(workdir, triton={"instances": [t.grpc_url for t in tritons]},
                                                   overload=overload))
        report = asyncio.run(run(router, clips, args))
    one, three = report["levels"].get("1"), report["levels"].get("3")
    report["ratio_3x_vs_1x"] = (three["goodput_per_s"] / one["goodput_per_s"]) if one and three else float("nan")
    report |= {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "load_average": os.getloadavg(), "target_ratio": TARGET,
               "command": " ".join([Path(sys.executable).name, "-m", "loadtest.bench_overload",
                                    *(argv if argv is not None else sys.argv[1:])])}
    print_table(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    plot(report, args.plot)
    print(f"written {args.json} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
