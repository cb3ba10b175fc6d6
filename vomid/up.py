"""`vomid up`: the embedded stack in one command, from any directory, source checkout or installed wheel.

Exports the model into ./model_repository if it holds none (the only step that needs the export extra, imported
only then), creates the storage key and an admin API key on first start, starts tritonserver on the repository,
then serves the router with a file store in ./var until Ctrl-C, which stops both.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import multiprocessing
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.contract import ENSEMBLE_MODEL, family
from tools.export.arguments import add_repository_arguments, add_source_arguments, chosen_model, request_from_args
from tools.export.errors import ExportError

if TYPE_CHECKING:
    from router.config import RouterConfig

log = logging.getLogger("vomid.up")

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
MODEL_REPOSITORY = Path("model_repository")
VAR = Path("var")
# What exporting needs beyond the base install (the export extra).
EXPORT_PACKAGES = ("torch", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML/JSON config (default: the embedded single-host settings shipped with vomid)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--output", type=Path, default=MODEL_REPOSITORY, help=argparse.SUPPRESS)
    add_source_arguments(parser)
    add_repository_arguments(parser)


def has_models(repository: Path) -> bool:
    return repository.is_dir() and any(repository.glob("*/config.pbtxt"))


def served_model(repository: Path) -> tuple[str, str]:
    """(model family, precision) of the repository's manifest."""
    from tools.export.repository import read_manifest

    try:
        manifest = read_manifest(repository)
    except (OSError, ValueError, TypeError):  # no or unreadable manifest: a repository made by hand
        return "unknown", "unknown"
    return manifest.model_name, manifest.precision


def ensure_models(args: argparse.Namespace) -> None:
    if args.target != "cpu":  # the bundled tritonserver has the python backend only
        raise ExportError(f"vomid up serves with the bundled CPU tritonserver: --target {args.target} is for Triton "
                          f"on a GPU host (python -m tools.export --target {args.target}, then tritonserver there)")
    wanted = chosen_model(args)
    if has_models(args.output):
        served, precision = served_model(args.output)
        if wanted and served != wanted:
            raise ExportError(f"{args.output} serves the {served} model, not {wanted}: delete {args.output} "
                              f"to export {wanted}, or drop --model to keep serving {served}")
        if args.precision and precision != args.precision:
            raise ExportError(f"{args.output} serves {served} in {precision}, not {args.precision}: delete "
                              f"{args.output} to export again, or drop --precision to keep serving {precision}")
        log.info("using the %s model already in %s (delete it to export again)", served, args.output)
        return
    missing = [package for package in EXPORT_PACKAGES if not _importable(package)]
    if missing:
        raise ExportError(f"{args.output} holds no model and exporting one needs the export extra "
                          f"(pip install 'edge-vomid[export]'): {', '.join(missing)} not installed")
    request = request_from_args(args)
    print(f"exporting {family(request.model).title} into {args.output} (first start only)...", flush=True)
    manifest = export_in_child(request)
    print(f"exported {manifest.embedding_dim}-dim {family(manifest.model_name).title} ({manifest.source}); "
          f"recommended threshold {manifest.recommended_threshold} ({manifest.threshold_source})", flush=True)


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a broken install, or an image that blocks it
        return False


def export_in_child(request):
    """Runs the export in a fresh interpreter: torch and the PyTorch model (hundreds of MB) go away with it instead
    of staying resident in the router for as long as the stack runs."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_run_export, (request,))


def _run_export(request):
    from tools.export.pipeline import run_export

    try:
        return run_export(request)
    except ExportError as exc:  # subclasses rebuild their message when unpickled: hand the parent the text
        raise ExportError(str(exc)) from None


def ensure_secrets(config: RouterConfig) -> None:
    """First start: an encryption key for the file store, and an admin API key printed exactly once."""
    from router.keys import append_key
    from store.crypto import generate_key

    key_path = config.storage.encryption_key_file
    if config.storage.type in ("file", "redis") and key_path and not Path(key_path).exists():
        Path(key_path).parent.mkdir(parents=True, exist_ok=True)
        Path(key_path).write_text(generate_key() + "\n")
        Path(key_path).chmod(0o600)
        print(f"created the storage encryption key {key_path} (back it up: voiceprints are unreadable without it)")
    keys_file = config.auth.keys_file
    if config.auth.enabled and keys_file and not Path(keys_file).exists():
        key, _ = append_key(Path(keys_file), ["admin"], "admin")
        print(f"created {keys_file}; the admin API key (shown once, store it now):\n\n    {key}\n", flush=True)


def read_config(args: argparse.Namespace) -> RouterConfig:
    from router.config import load_config

    overrides = {"VOIMID_API_PORT": str(args.port), "VOIMID_STORAGE_TYPE": "file",
                 "VOIMID_STORAGE_PATH": str(VAR / "store")}
    return load_config(args.config, env={**os.environ, **overrides})


def run(args: argparse.Namespace) -> int:
    from vomid.tritonserver import TritonServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not has_models(args.output):
        read_config(args)  # a bad config fails before minutes of first-start export
    ensure_models(args)
    # Triton loads its models (~2 s) while this process imports the router (~0.8 s) and reads its config; a bad
    # config stops Triton again (exit 2).
    # Explicit model control loads the speaker ensemble (and its models) now, and labelling's `vad` with the first
    # labelling job (router.balancer.pool.ensure_loaded): a box that never labels never pays for it.
    triton = TritonServer(args.output, name="triton-up", load_on_demand_except=ENSEMBLE_MODEL).launch()
    try:
        from router.app import serve
        from router.balancer.config import InstanceConfig
        from router.logs import setup_logging

        config = read_config(args)
        ensure_secrets(config)
        triton.wait_ready()
        config.triton = dataclasses.replace(config.triton, instances=[InstanceConfig(url=triton.grpc_url)])
        setup_logging(config.logging.level, config.logging.json,
                      config.audit.path if config.audit.enabled else None, config.audit.retention_days)
        host = "127.0.0.1" if config.api.host in ("0.0.0.0", "::") else config.api.host
        print(f"Edge-VoMID is up: http://{host}:{config.api.port}  (docs: /api/v1/docs, Ctrl-C stops)", flush=True)
        serve(config)  # returns after Ctrl-C
    finally:
        triton.stop()
    return 0
