"""On-disk embedding cache: one .npz per (file path, size, mtime, model sha256), so re-scoring costs no inference.

Any change to the file (size or mtime) or to the model (its ONNX sha256) gives a new key, so stale entries are
never read. Entries are written to a temporary name and renamed, so concurrent runs never read a partial file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from settings.env import variable

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(variable("CACHE_DIR") or Path.home() / ".cache" / "vomid") / "embeddings"


class EmbeddingCache:
    def __init__(self, root: Path, model_sha256: str):
        if not model_sha256:
            raise ValueError("the cache needs the model's sha256 to key entries")
        self.model_sha256 = model_sha256
        self.root = Path(root) / model_sha256[:16]
        self.root.mkdir(parents=True, exist_ok=True)

    def key(self, path: Path) -> str:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        identity = f"{resolved}\0{stat.st_size}\0{stat.st_mtime_ns}\0{self.model_sha256}"
        return hashlib.sha256(identity.encode()).hexdigest()

    def get(self, path: Path) -> np.ndarray | None:
        entry = self._entry(self.key(path))
        if not entry.exists():
            return None
        try:
            with np.load(entry) as data:
                return data["embedding"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            log.warning("ignoring unreadable cache entry %s", entry)
            return None

    def put(self, path: Path, embedding: np.ndarray) -> None:
        entry = self._entry(self.key(path))
        entry.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, embedding=np.asarray(embedding, dtype=np.float32), source=str(Path(path).resolve()))
            os.replace(temporary, entry)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"
