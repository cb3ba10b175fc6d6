"""The embedding stage of `vomid score`: each distinct file once, from the cache or from Triton, concurrently.

Decoding, resampling and cache reads run in worker threads; at most `concurrency` files are in flight, which
bounds memory and keeps Triton's queue full enough to batch.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from client.scoring.audio_loader import load_waveform
from client.scoring.cache import EmbeddingCache
from client.scoring.errors import EmbeddingError


class Embedder(Protocol):
    async def embed(self, waveform: np.ndarray) -> np.ndarray: ...


@dataclass
class EmbeddingRun:
    embeddings: dict[Path, np.ndarray]
    computed: int  # files sent to the embedder
    cached: int  # files read from the cache
    seconds: float

    @property
    def files_per_s(self) -> float:
        return len(self.embeddings) / self.seconds if self.seconds > 0 else float("inf")


async def embed_files(paths: list[Path], embedder: Embedder, cache: EmbeddingCache | None = None,
                      concurrency: int = 16, progress: bool = False) -> EmbeddingRun:
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    unique = list(dict.fromkeys(Path(p) for p in paths))
    semaphore = asyncio.Semaphore(concurrency)
    counts = {"computed": 0, "cached": 0}
    bar = tqdm(total=len(unique), unit="file", desc="embedding", disable=not progress)

    async def one(path: Path) -> np.ndarray:
        async with semaphore:
            embedding = await asyncio.to_thread(cache.get, path) if cache else None
            if embedding is None:
                waveform = await asyncio.to_thread(load_waveform, path)
                try:
                    embedding = await embedder.embed(waveform)
                except EmbeddingError as exc:
                    raise EmbeddingError(f"{path}: {exc}") from None
                counts["computed"] += 1
                if cache:
                    await asyncio.to_thread(cache.put, path, embedding)
            else:
                counts["cached"] += 1
            bar.update()
            return embedding

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one(p)) for p in unique]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:  # one file failed: stop the others rather than leave them running unobserved
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        bar.close()
    return EmbeddingRun(embeddings=dict(zip(unique, results)), computed=counts["computed"],
                        cached=counts["cached"], seconds=time.perf_counter() - started)
