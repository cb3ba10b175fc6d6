"""Starts Edge-VoMID.

`python main.py --config config/production.yaml` runs the router alone (Triton and Redis run elsewhere).
`python main.py up [--random-weights | --checkpoint F | --onnx F | --model-dir D] [--port 8080]` runs the embedded
stack in one command: export the model if model_repository/ is empty, start tritonserver on it, then the router
with a file store in ./var; Ctrl-C stops both.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import logging
import sys
from pathlib import Path

from aiohttp import web

from router.app import create_app
from router.config import RouterConfig, load_config
from router.errors import ConfigError
from router.logs import setup_logging
from tools.export.errors import ExportError  # torch-free: safe on router-only hosts

log = logging.getLogger("vomid.main")

DEFAULT_CONFIG = Path("config/default.yaml")
MODEL_REPOSITORY = Path("model_repository")
VAR = Path("var")


def serve(config: RouterConfig) -> None:
    web.run_app(create_app(config), host=config.api.host, port=config.api.port, access_log=None,
                print=lambda message: log.info("%s", message))


def run_router(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config.logging.level, config.logging.json, config.audit.path if config.audit.enabled else None)
    serve(config)
    return 0


def has_models(repository: Path) -> bool:
    return repository.is_dir() and any(repository.glob("*/config.pbtxt"))


def ensure_models(args: argparse.Namespace) -> None:
    if has_models(args.output):
        log.info("using the models already in %s (delete it to export again)", args.output)
        return
    from tools.export.cli import request_from_args
    from tools.export.pipeline import run_export

    print(f"exporting CAM++ into {args.output} (first start only)...", flush=True)
    manifest = run_export(request_from_args(args))
    print(f"exported {manifest.embedding_dim}-dim CAM++ ({manifest.source})", flush=True)


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


def run_up(args: argparse.Namespace) -> int:
    from engine.tritonserver import TritonServer
    from router.balancer.config import InstanceConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {"VOIMID_API_PORT": str(args.port), "VOIMID_STORAGE_TYPE": "file",
                 "VOIMID_STORAGE_PATH": str(VAR / "store")}
    config = load_config(args.config, env={**os.environ, **overrides})  # a bad config fails before any work
    ensure_models(args)
    ensure_secrets(config)
    with TritonServer(args.output, name="triton-up") as triton:
        config.triton = dataclasses.replace(config.triton, instances=[InstanceConfig(url=triton.grpc_url)])
        setup_logging(config.logging.level, config.logging.json,
                      config.audit.path if config.audit.enabled else None)
        host = "127.0.0.1" if config.api.host in ("0.0.0.0", "::") else config.api.host
        print(f"Edge-VoMID is up: http://{host}:{config.api.port}  (docs: /api/v1/docs, Ctrl-C stops)", flush=True)
        serve(config)  # returns after Ctrl-C; leaving the block stops tritonserver
    return 0


def parser() -> argparse.ArgumentParser:
    from tools.export.cli import add_repository_arguments, add_source_arguments

    top = argparse.ArgumentParser(prog="python main.py", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--config", type=Path, default=None, help="YAML/JSON config (default: env vars only)")
    sub = top.add_subparsers(dest="command")
    up = sub.add_parser("up", help="export if needed, start tritonserver and the router")
    up.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--output", type=Path, default=MODEL_REPOSITORY, help=argparse.SUPPRESS)
    add_source_arguments(up)
    add_repository_arguments(up)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run_up(args) if args.command == "up" else run_router(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:  # e.g. no weights: the message lists every way to supply them
        print(f"model export failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
