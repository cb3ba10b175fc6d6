"""Checks a CAM++ ONNX graph and gives it the served interface.

Whatever produced the graph (our PyTorch export or a third party such as sherpa-onnx), the served model has one
input `fbank` (B, T, 80), one output `embedding` (B, D), L2-normalised inside the graph so that every backend
(python/onnxruntime, Triton onnxruntime, TensorRT) returns unit vectors and cosine scoring is a dot product.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tools.export.errors import CheckpointError

INPUT_NAME = "fbank"
OUTPUT_NAME = "embedding"
FEAT_DIM = 80
_RAW_OUTPUT = "raw_embedding"
_NORM_EPS = 1e-12


def load_onnx(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except FileNotFoundError:
        raise CheckpointError(f"ONNX file {path} does not exist") from None
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise CheckpointError(f"{path} is not a valid ONNX model ({type(exc).__name__}: {str(exc)[:300]})") from None
    return model


def standardize(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """Renames the I/O to the served names, makes batch/time dynamic and appends L2 normalisation."""
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise CheckpointError(f"{source}: expected one input and one output, got {len(inputs)} and {len(graph.output)}")
    feat_dims = inputs[0].type.tensor_type.shape.dim
    if len(feat_dims) != 3 or (feat_dims[2].HasField("dim_value") and feat_dims[2].dim_value != FEAT_DIM):
        raise CheckpointError(f"{source}: input must be fbank (B, T, {FEAT_DIM}), got {_shape_str(feat_dims)}")
    if len(graph.output[0].type.tensor_type.shape.dim) != 2:
        raise CheckpointError(f"{source}: output must be an embedding (B, D)")
    if graph.output[0].name == OUTPUT_NAME and any(n.name == "vomid_l2norm_div" for n in graph.node):
        return model  # already standardized by us

    _rename_value(graph, inputs[0].name, INPUT_NAME)
    _rename_value(graph, graph.output[0].name, _RAW_OUTPUT)
    _set_dims(inputs[0], ["batch", "frames", FEAT_DIM])
    _append_l2_normalisation(model)
    onnx.checker.check_model(model)
    return model


def embedding_dim(model: onnx.ModelProto) -> int | None:
    dim = model.graph.output[0].type.tensor_type.shape.dim[1]
    return dim.dim_value if dim.HasField("dim_value") else None


def set_metadata(model: onnx.ModelProto, values: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in values.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def _set_dims(value: onnx.ValueInfoProto, dims: list) -> None:
    for dim, wanted in zip(value.type.tensor_type.shape.dim, dims):
        dim.Clear()
        if isinstance(wanted, str):
            dim.dim_param = wanted
        else:
            dim.dim_value = wanted


def _opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)


def _append_l2_normalisation(model: onnx.ModelProto) -> None:
    """embedding = raw / max(||raw||_2, eps), with ops every backend (TensorRT included) supports."""
    graph = model.graph
    old_output = graph.output[0]
    dim = old_output.type.tensor_type.shape.dim[1]
    graph.output.remove(old_output)
    eps = numpy_helper.from_array(np.array(_NORM_EPS, dtype=np.float32), "vomid_l2norm_eps")
    graph.initializer.append(eps)
    nodes = [helper.make_node("Mul", [_RAW_OUTPUT, _RAW_OUTPUT], ["vomid_sq"], name="vomid_l2norm_sq")]
    if _opset(model) >= 13:
        axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "vomid_l2norm_axes")
        graph.initializer.append(axes)
        nodes.append(helper.make_node("ReduceSum", ["vomid_sq", axes.name], ["vomid_sumsq"], keepdims=1,
                                      name="vomid_l2norm_sum"))
    else:
        nodes.append(helper.make_node("ReduceSum", ["vomid_sq"], ["vomid_sumsq"], axes=[1], keepdims=1,
                                      name="vomid_l2norm_sum"))
    nodes += [
        helper.make_node("Sqrt", ["vomid_sumsq"], ["vomid_norm"], name="vomid_l2norm_sqrt"),
        helper.make_node("Max", ["vomid_norm", eps.name], ["vomid_norm_safe"], name="vomid_l2norm_max"),
        helper.make_node("Div", [_RAW_OUTPUT, "vomid_norm_safe"], [OUTPUT_NAME], name="vomid_l2norm_div"),
    ]
    graph.node.extend(nodes)
    out_dim = dim.dim_value if dim.HasField("dim_value") else "embedding_dim"
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", out_dim]))


def _shape_str(dims) -> str:
    return "(" + ", ".join(d.dim_param or str(d.dim_value) for d in dims) + ")"
