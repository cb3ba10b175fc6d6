"""What the served model is, read from the ensemble's config: tensor names and the `parameters` the export wrote.

One reader for every client of Triton (the router's pool, `vomid score`): the tensor names come from the config,
and model name, id (what voiceprints are tagged with), embedding size and recommended threshold from the
parameters block (engine.contract documents them; older repositories may lack some, which then read as None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the Triton model that answers (the ensemble)
    input_name: str
    output_name: str
    embedding_dim: int
    random_weights: bool = False
    source: str = ""
    model_sha256: str | None = None  # of the served graph (the embedding cache key of `vomid score`)
    model_id: str | None = None  # family + weights sha256: embeddings of two different ids are not comparable
    model_name: str | None = None  # the family: campplus, ge2e
    recommended_threshold: float | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ModelInfo":
        """`config` is `get_model_config(name, as_json=True)["config"]` (gRPC or HTTP client)."""
        params = {key: str(value.get("string_value", "")) for key, value in config.get("parameters", {}).items()}
        output, input_ = config["output"][0], config["input"][0]
        threshold = params.get("recommended_threshold")
        return cls(name=config["name"], input_name=input_["name"], output_name=output["name"],
                   embedding_dim=int(params.get("embedding_dim") or output["dims"][-1]),
                   random_weights=params.get("random_weights", "false").lower() == "true",
                   source=params.get("source", ""), model_sha256=params.get("model_sha256") or None,
                   model_id=params.get("model_id") or None, model_name=params.get("model_name") or None,
                   recommended_threshold=float(threshold) if threshold else None)

    def public(self) -> dict[str, Any]:
        """What the router tells its clients about the model (health, stats, every decision)."""
        return {"id": self.model_id, "name": self.model_name, "embedding_dim": self.embedding_dim,
                "recommended_threshold": self.recommended_threshold, "random_weights": self.random_weights,
                "source": self.source}
