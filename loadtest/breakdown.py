"""Where a request's time goes under load: the router's histograms and Triton's per-model statistics, read before
and after a load phase, turned into mean milliseconds per request for each stage of the path.

    client ─ HTTP ─ router: body, auth ─ decode queue ─ decode ─ gRPC ─ Triton ensemble ─ fbank (queue, compute)
                                                                                     └ CAM++ (queue, compute)
"""
from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families

from engine.contract import ENSEMBLE_MODEL, family

VERIFY_ROUTE = "/api/v1/voiceprint/verify"
ROUTER_HISTOGRAMS = {  # stage -> (metric, labels it must carry)
    "router total": ("vomid_http_request_duration_seconds", {"route": VERIFY_ROUTE}),
    "decode queue": ("vomid_audio_decode_wait_seconds", {}),
    "decode": ("vomid_audio_decode_duration_seconds", {}),
    "Triton round trip": ("vomid_inference_duration_seconds", {}),
}
TRITON_PHASES = ("queue", "compute_input", "compute_infer", "compute_output", "success")


@dataclass(frozen=True)
class Snapshot:
    router: dict[str, tuple[float, float]]  # stage -> (sum of seconds, count)
    triton: dict[str, dict[str, tuple[int, int]]]  # model -> phase -> (count, nanoseconds)


async def router_sums(url: str) -> dict[str, tuple[float, float]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
    wanted = {metric: stage for stage, (metric, _) in ROUTER_HISTOGRAMS.items()}
    sums: dict[str, list[float]] = {stage: [0.0, 0.0] for stage in ROUTER_HISTOGRAMS}
    for metric_family in text_string_to_metric_families(text):
        stage = wanted.get(metric_family.name)
        if stage is None:
            continue
        labels = ROUTER_HISTOGRAMS[stage][1]
        for sample in metric_family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                if sample.name.endswith("_sum"):
                    sums[stage][0] += sample.value
                elif sample.name.endswith("_count"):
                    sums[stage][1] += sample.value
    return {stage: (total, count) for stage, (total, count) in sums.items()}


def triton_stats(grpc_url: str, model_name: str) -> dict[str, dict[str, tuple[int, int]]]:
    models = family(model_name)
    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        stats = {}
        for model in (ENSEMBLE_MODEL, models.features_model, models.embedding_model):
            [entry] = client.get_inference_statistics(model, as_json=True)["model_stats"]
            phases = entry.get("inference_stats", {})
            stats[model] = {phase: (int(phases.get(phase, {}).get("count", 0)), int(phases.get(phase, {}).get("ns", 0)))
                            for phase in TRITON_PHASES}
        return stats
    finally:
        client.close()


async def snapshot(router_url: str, grpc_url: str, model_name: str) -> Snapshot:
    return Snapshot(await router_sums(router_url), triton_stats(grpc_url, model_name))


def _mean_ms(before: tuple[float, float], after: tuple[float, float]) -> float:
    total, count = after[0] - before[0], after[1] - before[1]
    return 1000.0 * total / count if count else float("nan")


def _triton_ms(before: dict, after: dict, model: str, *phases: str) -> float:
    """Mean ms per request of the phases together, per request of `model` in the window."""
    requests = after[model]["success"][0] - before[model]["success"][0]
    ns = sum(after[model][p][1] - before[model][p][1] for p in phases)
    return ns / requests / 1e6 if requests else float("nan")


def breakdown(before: Snapshot, after: Snapshot, client_mean_ms: float, model_name: str) -> dict[str, float]:
    """Mean ms per request of each stage in the window, outermost first; the gaps are named as derived stages."""
    r = {stage: _mean_ms(before.router[stage], after.router[stage]) for stage in ROUTER_HISTOGRAMS}
    models = family(model_name)
    t0, t1 = before.triton, after.triton
    compute = ("compute_input", "compute_infer", "compute_output")
    ensemble = _triton_ms(t0, t1, ENSEMBLE_MODEL, "success")
    stages = {
        "client end to end": client_mean_ms,
        "  client <-> router (HTTP, event loops)": client_mean_ms - r["router total"],
        "  router total (verify)": r["router total"],
        "    body, auth, scoring, reply": r["router total"] - r["decode queue"] - r["decode"] - r["Triton round trip"],
        "    decode queue (waiting for a thread)": r["decode queue"],
        "    decode + resample": r["decode"],
        "    Triton round trip": r["Triton round trip"],
        "      gRPC, balancer (outside Triton)": r["Triton round trip"] - ensemble,
        "      Triton ensemble": ensemble,
        "        fbank queue": _triton_ms(t0, t1, models.features_model, "queue"),
        "        fbank compute": _triton_ms(t0, t1, models.features_model, *compute),
        "        embedding queue": _triton_ms(t0, t1, models.embedding_model, "queue"),
        "        embedding compute": _triton_ms(t0, t1, models.embedding_model, *compute),
    }
    inner = sum(_triton_ms(t0, t1, m, "success") for m in (models.features_model, models.embedding_model))
    stages["        ensemble scheduling"] = ensemble - inner
    return stages


def print_breakdown(stages: dict[str, float]) -> None:
    print(f"\n{'stage (mean per request)':<46}{'ms':>9}")
    for stage, ms in stages.items():
        print(f"{stage:<46}{ms:>9.1f}")
