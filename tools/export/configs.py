"""Renders the Triton `config.pbtxt` of each model from the contract's names (engine.contract).

One template per model kind (features, embedding, ensemble) serves every model family: a family only changes
names, feature dims, the feature settings in `parameters`, and GE2E's extra `partials` tensor.
"""
from __future__ import annotations

import json

from engine.contract import (EMBEDDING, EMBEDDING_DTYPE, ENSEMBLE_MODEL, PARTIALS_DTYPE, WAVEFORM, WAVEFORM_DTYPE,
                             ModelFamily)


# Where the embedding model is not a python model: its platform and file.
DENSE_PLATFORMS = {"onnx-gpu": ("onnxruntime_onnx", "model.onnx"), "tensorrt": ("tensorrt_plan", "model.plan"),
                   "libtorch": ("pytorch_libtorch", "model.pt")}

# Run the TorchScript module under torch.inference_mode (no autograd bookkeeping; the backend's default is off).
LIBTORCH_PARAMETERS = {"INFERENCE_MODE": "true"}


def features_config(family: ModelFamily, options, params: dict[str, str]) -> str:
    outputs = [_tensor(family.features_tensor, "FP32", family.features_dims)]
    if family.partials_tensor:
        outputs.append(_tensor(family.partials_tensor, PARTIALS_DTYPE, (1,)))
    if options.fbank == "torch":
        # One instance per device computes a whole Triton batch at once, so batch-mates are worth waiting for.
        kind = "KIND_CPU" if options.target == "cpu" else "KIND_GPU"
        delay, instances = options.max_queue_delay_us, f"{{ kind: {kind} count: 1 }}"
    else:  # kaldi-native-fbank handles a batch one request at a time: waiting for batch-mates only adds latency
        delay, instances = options.features_queue_delay_us, f"{{ kind: KIND_CPU count: {options.feature_instances} }}"
    return f"""name: "{family.features_model}"
backend: "python"
max_batch_size: {options.max_batch_size}
# Waveforms of different lengths are batched together; the model handles each request's length itself.
input [ {_tensor(WAVEFORM, WAVEFORM_DTYPE, (-1,), ragged=True)} ]
output [ {", ".join(outputs)} ]
dynamic_batching {{ max_queue_delay_microseconds: {delay} {queue_policy(options)} }}
instance_group [ {instances} ]
{parameters_block(params)}
"""


def model_tensor(name: str, options) -> str:
    """The embedding model's own name for an ensemble tensor: a TorchScript module has no tensor names, so Triton's
    libtorch backend binds them by position, named `<name>__<index>`."""
    return f"{name}__0" if options.target == "libtorch" else name


def embedding_config(family: ModelFamily, options, embedding_dim: int) -> str:
    batching = _dynamic_batching(options)
    output = _tensor(EMBEDDING, EMBEDDING_DTYPE, (embedding_dim,))
    if options.target == "cpu":
        inputs = [_tensor(family.features_tensor, "FP32", family.features_dims, ragged=True)]
        if family.partials_tensor:
            inputs.append(_tensor(family.partials_tensor, PARTIALS_DTYPE, (1,)))
        params = {"onnx_file": "model.onnx", "intra_op_threads": str(options.intra_op_threads),
                  "inter_op_threads": str(options.inter_op_threads), "max_batch_frames": str(options.max_batch_frames)}
        return f"""name: "{family.embedding_model}"
backend: "python"
max_batch_size: {options.max_batch_size}
# Mixed lengths arrive in one execute(); engine.embedder groups them by exact frame count (no padding).
input [ {", ".join(inputs)} ]
output [ {output} ]
{batching}
instance_group [ {{ kind: KIND_CPU count: {options.embedding_instances} }} ]
{parameters_block(params)}
"""
    platform, file_name = DENSE_PLATFORMS[options.target]
    output = _tensor(model_tensor(EMBEDDING, options), EMBEDDING_DTYPE, (embedding_dim,))
    # Dense backends batch only requests of equal frame count: the same exact-length grouping as on CPU.
    return f"""name: "{family.embedding_model}"
platform: "{platform}"
default_model_filename: "{file_name}"
max_batch_size: {options.max_batch_size}
input [ {_tensor(model_tensor(family.features_tensor, options), "FP32", family.features_dims)} ]
output [ {output} ]
{batching}
instance_group [ {{ kind: KIND_GPU count: {options.embedding_instances} }} ]
{parameters_block(LIBTORCH_PARAMETERS if options.target == "libtorch" else {})}
"""


def ensemble_config(family: ModelFamily, options, embedding_dim: int, params: dict[str, str]) -> str:
    internal = [family.features_tensor] + ([family.partials_tensor] if family.partials_tensor else [])
    features_out = " ".join(f'output_map {{ key: "{t}" value: "{t}" }}' for t in internal)
    embedding_in = " ".join(f'input_map {{ key: "{model_tensor(t, options)}" value: "{t}" }}' for t in internal)
    return f"""name: "{ENSEMBLE_MODEL}"
platform: "ensemble"
max_batch_size: {options.max_batch_size}
input [ {_tensor(WAVEFORM, WAVEFORM_DTYPE, (-1,))} ]
output [ {_tensor(EMBEDDING, EMBEDDING_DTYPE, (embedding_dim,))} ]
ensemble_scheduling {{
  step [
    {{
      model_name: "{family.features_model}"
      model_version: -1
      input_map {{ key: "{WAVEFORM}" value: "{WAVEFORM}" }}
      {features_out}
    }},
    {{
      model_name: "{family.embedding_model}"
      model_version: -1
      {embedding_in}
      output_map {{ key: "{model_tensor(EMBEDDING, options)}" value: "{EMBEDDING}" }}
    }}
  ]
}}
{parameters_block(params)}
"""


def _tensor(name: str, dtype: str, dims: tuple[int, ...], ragged: bool = False) -> str:
    flag = " allow_ragged_batch: true" if ragged else ""
    return f'{{ name: "{name}" data_type: TYPE_{dtype} dims: [ {", ".join(map(str, dims))} ]{flag} }}'


def _dynamic_batching(options) -> str:
    preferred = [b for b in options.preferred_batch_sizes if b <= options.max_batch_size]
    preferred_line = f"preferred_batch_size: [ {', '.join(map(str, preferred))} ] " if preferred else ""
    return (f"dynamic_batching {{ {preferred_line}max_queue_delay_microseconds: {options.max_queue_delay_us} "
            f"{queue_policy(options)} }}")


def queue_policy(options) -> str:
    # A bound on what routers sharing this server can pile up (UNAVAILABLE "Exceeds maximum queue size" past it);
    # a request whose timeout (the router's deadline) passed while it queued is rejected, not computed.
    return (f"default_queue_policy {{ timeout_action: REJECT allow_timeout_override: true "
            f"max_queue_size: {options.max_queue_size} }}")


def parameters_block(params: dict[str, str]) -> str:
    return "\n".join(
        f'parameters {{ key: "{key}" value: {{ string_value: {json.dumps(value)} }} }}' for key, value in params.items()
    )
