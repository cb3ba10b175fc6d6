"""The export's command-line options, shared by `python -m tools.export` and `vomid up`.

Torch- and onnx-free: `up` parses these on hosts without the export extra and imports the pipeline only when it
has to export.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import settings.env
from engine.contract import DEFAULT_FAMILY, FAMILIES
from tools.export.errors import ExportError
from tools.export.repository import FRONT_ENDS, TARGETS, RepositoryOptions
from tools.export.sources import DEFAULT_MODEL_ID


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=tuple(FAMILIES), default=settings.env.variable("MODEL") or None,
                        help=f"model family (env VOIMID_MODEL; default {DEFAULT_FAMILY}): campplus needs CAM++ weights "
                             "(ModelScope or a file); ge2e is Resemblyzer's GE2E encoder, shipped on PyPI, no hub")
    source = parser.add_argument_group("CAM++ weights (pick one; default: VOIMID_MODEL_PATH, else the ModelScope model)")
    group = source.add_mutually_exclusive_group()
    group.add_argument("--model-id", help=f"ModelScope model id (default {DEFAULT_MODEL_ID})")
    group.add_argument("--model-dir", type=Path, help="a ModelScope snapshot directory on disk")
    group.add_argument("--checkpoint", type=Path,
                       help="CAM++ PyTorch state dict (.bin/.pt); with --model ge2e, a GE2E encoder .pt")
    group.add_argument("--onnx", type=Path, help="an existing CAM++ ONNX file (validated, then used as is)")
    group.add_argument("--random-weights", action="store_true",
                       help="untrained network, for tests and demos ONLY (every response says so)")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                        help="record the documented threshold instead of calibrating on ../shared/audio")
    source.add_argument("--embedding-dim", type=int, default=512, help="embedding size of --random-weights")
    source.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    source.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "vomid" / "modelscope")
    source.add_argument("--revision", help="ModelScope revision")
    source.add_argument("--offline", action="store_true", default=settings.env.variable("OFFLINE") == "1",
                        help="never touch the network: use only the ModelScope cache (env VOIMID_OFFLINE=1)")


def add_repository_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = RepositoryOptions()
    repo = parser.add_argument_group("model repository")
    repo.add_argument("--target", choices=TARGETS, default="cpu",
                      help="cpu: python backend + onnxruntime; GPU hosts: onnx-gpu (onnxruntime_onnx), tensorrt "
                           "(tensorrt_plan) or libtorch (pytorch_libtorch, a TorchScript trace)")
    repo.add_argument("--front-end", choices=FRONT_ENDS,
                      help="CAM++'s fbank model: kaldi (kaldi-native-fbank, one utterance at a time; cpu default) or "
                           "torch (batched on the instance's device; GPU targets' default, needs torch where Triton "
                           "runs)")
    repo.add_argument("--fp16", action="store_true", help="TensorRT: build an FP16 engine")
    repo.add_argument("--precision", choices=("fp32", "int8"),
                      help="CAM++ on onnxruntime (default fp32): int8 is statically quantised on real speech, "
                           "written only when every held-out utterance keeps cosine >= 0.99 to fp32")
    repo.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size)
    repo.add_argument("--max-queue-delay-us", type=int,
                      help="the embedding model's batching delay (default: 0 on cpu, 2000 on GPU targets)")
    repo.add_argument("--features-queue-delay-us", type=int, default=defaults.features_queue_delay_us,
                      help="the features model's batching delay (it handles requests one by one: 0 adds none)")
    repo.add_argument("--max-queue-size", type=int, default=defaults.max_queue_size,
                      help="requests a model queues before Triton refuses more")
    repo.add_argument("--feature-instances", type=int, default=defaults.feature_instances)
    repo.add_argument("--embedding-instances", type=int, default=defaults.embedding_instances)
    repo.add_argument("--intra-op-threads", type=int, default=defaults.intra_op_threads,
                      help="onnxruntime threads per embedding instance (0: all cores)")
    repo.add_argument("--inter-op-threads", type=int, default=defaults.inter_op_threads)
    repo.add_argument("--no-vad", action="store_true", help="do not write the Silero `vad` model (no labelling)")
    repo.add_argument("--max-batch-frames", type=int, default=defaults.max_batch_frames,
                      help="frame budget of one onnxruntime call")


def chosen_model(args: argparse.Namespace) -> str | None:
    """--model (or VOIMID_MODEL, which argparse does not check); None when neither is given."""
    if args.model is not None and args.model not in FAMILIES:
        raise ExportError(f"unknown model {args.model!r} (--model / VOIMID_MODEL): choose one of {', '.join(FAMILIES)}")
    return args.model


def request_from_args(args: argparse.Namespace):
    """The ExportRequest the options describe (imports the export pipeline, which needs the export extra)."""
    from tools.export.pipeline import ExportRequest

    return ExportRequest(
        output=args.output, model=chosen_model(args) or DEFAULT_FAMILY, model_id=args.model_id,
        model_dir=args.model_dir, checkpoint=args.checkpoint,
        onnx=args.onnx, random_weights=args.random_weights, embedding_dim=args.embedding_dim, seed=args.seed,
        cache_dir=args.cache_dir, revision=args.revision, offline=args.offline, fp16=args.fp16,
        precision=args.precision or "fp32", calibrate=args.calibrate,
        vad=not getattr(args, "no_vad", False),
        repository=RepositoryOptions(
            target=args.target, max_batch_size=args.max_batch_size, max_queue_delay_us=args.max_queue_delay_us,
            features_queue_delay_us=args.features_queue_delay_us,
            max_queue_size=args.max_queue_size,
            feature_instances=args.feature_instances, embedding_instances=args.embedding_instances,
            intra_op_threads=args.intra_op_threads, inter_op_threads=args.inter_op_threads,
            max_batch_frames=args.max_batch_frames, front_end=args.front_end or "",
        ),
    )
