"""What the served model is, read from the ensemble's config: tensor names and its `parameters` block."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    input_name: str
    output_name: str
    embedding_dim: int
    random_weights: bool
    source: str

    @classmethod
    def from_config(cls, config) -> "ModelInfo":
        """`config` is the ModelConfig message of get_model_config(...).config."""
        params = {key: value.string_value for key, value in config.parameters.items()}
        output = config.output[0]
        # The parameter is what the exporter wrote; the output's last dim is the fallback for other repositories.
        dim = int(params.get("embedding_dim") or output.dims[-1])
        return cls(input_name=config.input[0].name, output_name=output.name, embedding_dim=dim,
                   random_weights=params.get("random_weights", "false").lower() == "true",
                   source=params.get("source", ""))

    def public(self) -> dict:
        return {"embedding_dim": self.embedding_dim, "random_weights": self.random_weights, "source": self.source}
