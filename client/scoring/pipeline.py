"""One `vomid score` run: trial list -> embeddings (cache, else Triton) -> cosine scores -> metrics, DET, report."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from client.scoring.cache import DEFAULT_CACHE_DIR, EmbeddingCache
from client.scoring.embed_files import EmbeddingRun, embed_files
from client.scoring.errors import EmbeddingError
from client.scoring.metrics import det_curve, equal_error_rate, min_dcf
from client.scoring.report import P_TARGETS, build_report, write_report
from client.scoring.trials import Trial, parse_trials
from client.scoring.triton_embedder import DEFAULT_MODEL, TritonEmbedder

log = logging.getLogger(__name__)


@dataclass
class ScoreRequest:
    trials: Path
    grpc_url: str
    out_dir: Path
    audio_root: Path | None = None
    model: str = DEFAULT_MODEL
    cache_dir: Path | None = DEFAULT_CACHE_DIR  # None: no cache
    model_repository: Path | None = None  # where to read the model sha256 if Triton's config lacks it
    concurrency: int = 16
    progress: bool = False


@dataclass
class ScoreResult:
    report: dict[str, Any]
    report_path: Path
    scores: np.ndarray  # one per trial, in trial-list order
    embedding_run: EmbeddingRun


def run_score(request: ScoreRequest) -> ScoreResult:
    return asyncio.run(score_trials(request))


async def score_trials(request: ScoreRequest) -> ScoreResult:
    trials = parse_trials(request.trials, request.audio_root)
    paths = [p for t in trials for p in (t.enroll, t.test)]
    async with TritonEmbedder(request.grpc_url, request.model) as embedder:
        sha = embedder.info.model_sha256 or _manifest_sha(request.model_repository)
        cache = _open_cache(request.cache_dir, sha)
        run = await embed_files(paths, embedder, cache, request.concurrency, request.progress)
        triton_requests = embedder.requests_sent
    scores = cosine_scores(trials, run.embeddings)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    files = _write_outputs(request.out_dir, trials, scores)
    labels = np.array([t.target for t in trials])
    curve = det_curve(scores[labels], scores[~labels])
    eer = equal_error_rate(curve)
    dcfs = {p: min_dcf(curve, p) for p in P_TARGETS}
    points = {"EER": eer, **{f"minDCF p={p:g}": d for p, d in dcfs.items()}}
    if not _draw_det(curve, points, request.out_dir / files["det"], f"DET: {request.trials.name} ({len(trials)} trials)"):
        del files["det"]
    report = build_report(
        eer=eer, min_dcfs=dcfs,
        trials={"file": str(request.trials), "count": len(trials), "targets": int(labels.sum()),
                "nontargets": int((~labels).sum())},
        model={"name": request.model, "grpc_url": request.grpc_url, "sha256": sha},
        embeddings={"files": len(run.embeddings), "computed": run.computed, "cached": run.cached,
                    "triton_requests": triton_requests, "seconds": round(run.seconds, 3),
                    "cache_dir": str(cache.root) if cache else None},
        files=files,
    )
    report_path = write_report(report, request.out_dir / "report.json")
    log.info("EER %.4f at %.4f; minDCF(0.01) %.4f; report %s", eer.value, eer.threshold, dcfs[0.01].value,
             report_path)
    return ScoreResult(report=report, report_path=report_path, scores=scores, embedding_run=run)


def cosine_scores(trials: list[Trial], embeddings: dict[Path, np.ndarray]) -> np.ndarray:
    def unit(path: Path) -> np.ndarray:
        vector = np.asarray(embeddings[path], dtype=np.float64)
        return vector / max(np.linalg.norm(vector), 1e-12)

    return np.array([float(unit(t.enroll) @ unit(t.test)) for t in trials])


def _write_outputs(out_dir: Path, trials: list[Trial], scores: np.ndarray) -> dict[str, str]:
    lines = [f"{s:.6f} {int(t.target)} {t.enroll} {t.test}\n" for t, s in zip(trials, scores)]
    (out_dir / "scores.txt").write_text("".join(lines))
    return {"scores": "scores.txt", "det": "det.png", "report": "report.json"}


def _draw_det(curve, points: dict, path: Path, title: str) -> bool:
    try:
        from client.scoring.det_plot import plot_det
    except ImportError:  # matplotlib is the plots extra: without it, scores and report are still written
        log.warning("%s not drawn: matplotlib is not installed (pip install 'edge-vomid[plots]')", path.name)
        return False
    plot_det(curve, points, path, title=title)
    return True


def _open_cache(cache_dir: Path | None, sha: str | None) -> EmbeddingCache | None:
    if cache_dir is None:
        return None
    if not sha:
        log.warning("model sha256 unknown (no model_sha256 parameter, no --model-repository): cache disabled")
        return None
    return EmbeddingCache(cache_dir, sha)


def _manifest_sha(model_repository: Path | None) -> str | None:
    if model_repository is None:
        return None
    manifest = Path(model_repository) / DEFAULT_MODEL / "manifest.json"
    try:
        return json.loads(manifest.read_text())["model_sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise EmbeddingError(f"{manifest}: cannot read model_sha256: {exc}") from None
