"""Runs a served ONNX embedding graph (CAM++, GE2E) on many variable-length feature matrices at once.

Batching strategy (measured, see README "Batching"): CAM++ has convolutions and time pooling over the whole
utterance, so zero-padding a short utterance to a longer one changes its embedding. Items are therefore grouped
by exact frame count; each group runs as one onnxruntime call, cut into chunks by a frame budget (like
text-embeddings-inference's token budget) because on CPU a batch only pays while it stays cache-sized.
Mixed lengths still share one Triton `execute` call, so queueing and transport are batched even when compute is not.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class EmbedderConfig:
    intra_op_threads: int = 0  # 0: onnxruntime picks (all cores)
    inter_op_threads: int = 1
    max_batch_frames: int = 6000  # rows per onnxruntime call = max(1, max_batch_frames // frames)


class OnnxEmbedder:
    def __init__(self, model_path: Path | str, config: EmbedderConfig | None = None):
        import onnxruntime as ort  # here: the models and tools that only need EmbedderConfig skip ~30 MB

        self.config = config or EmbedderConfig()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = self.config.inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        # The export names them (engine.contract): fbank/mel -> embedding; reading them keeps one graph-agnostic class.
        self.input_name = self._session.get_inputs()[0].name
        self.output_name = self._session.get_outputs()[0].name
        self.embedding_dim = self._session.get_outputs()[0].shape[1]

    def embed(self, feats: np.ndarray) -> np.ndarray:
        """(B, T, F) -> (B, D) unit vectors."""
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        return self._session.run([self.output_name], {self.input_name: feats})[0]

    def embed_many(self, items: list[np.ndarray]) -> list[np.ndarray]:
        """Embeds a list of (b_i, T_i, F) arrays; returns (b_i, D) arrays in the same order."""
        rows_by_length: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for item_index, item in enumerate(items):
            for row in range(item.shape[0]):
                rows_by_length[item.shape[1]].append((item_index, row))
        results = [np.empty((item.shape[0], 0), dtype=np.float32) for item in items]
        outputs: dict[tuple[int, int], np.ndarray] = {}
        for frames, rows in rows_by_length.items():
            chunk = max(1, self.config.max_batch_frames // max(frames, 1))
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                batch = np.stack([items[i][r] for i, r in part])
                for key, embedding in zip(part, self.embed(batch)):
                    outputs[key] = embedding
        for item_index, item in enumerate(items):
            results[item_index] = np.stack([outputs[(item_index, r)] for r in range(item.shape[0])])
        return results
