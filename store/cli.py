"""`python -m store gen-key | backup | restore | rotate-key | reenroll-needed | verify | repair`: store operations.

The store settings come from --config (YAML/JSON; its `storage:` section if it has one) and
--set key=value overrides, exactly the keys of StorageConfig. Exit codes: 0 done, 1 failed (nothing
changed that the old settings cannot open), 3 key rotation committed but not finished (the new key is
now required; the message says what is left), 4 verify/repair found damage.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import settings

from .backup import backup, read_backup, restore
from .config import StorageConfig
from .crypto import Cipher, generate_key, load_cipher, parse_key
from .errors import RotationIncomplete, StoreConfigError, StoreError
from .escrow import KeyEscrow, write_escrow
from .factory import create_store
from .repair import repair_backup, repair_store, verify_file, verify_store


def load_config(path: str | None, overrides: list[str]) -> StorageConfig:
    data: dict = {}
    if path:
        data = settings.read_file(path, StoreConfigError)
        data = settings.mapping("storage", data.get("storage", data), StoreConfigError)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        data[key.strip()] = value
    return StorageConfig.from_dict(data)


def _store(config: StorageConfig):
    store = create_store(config)
    store.announce = False   # an operator command is not a router (key rotation checks the routers)
    return store


def _cipher_from_file(path: str, setting: str) -> Cipher:
    return Cipher(parse_key(Path(path).read_text(), setting))


async def _backup(args) -> str:
    config = load_config(args.config, args.set)
    cipher = _cipher_from_file(args.key_file, "--key-file") if args.key_file else load_cipher(config)
    async with _store(config) as store:
        n = await backup(store, args.file, cipher)
        if args.escrow_keys:
            ids = [uid for uid, _ in read_backup(args.file, cipher).entries]
            escrowed = await write_escrow(store, ids, args.escrow_keys, cipher)
    escrow = f"; {escrowed} data keys escrowed in {args.escrow_keys}" if args.escrow_keys else ""
    return f"backed up {n} users from {config.type} to {args.file}{escrow}"


async def _restore(args) -> str:
    config = load_config(args.config, args.set)
    cipher = _cipher_from_file(args.key_file, "--key-file") if args.key_file else load_cipher(config)
    source_config = load_config(args.keys_from, args.keys_from_set) if args.keys_from or args.keys_from_set \
        else None
    if source_config is not None and args.keys_from_escrow:
        raise SystemExit("restore: give --keys-from or --keys-from-escrow, not both")
    async with _store(config) as store:
        if args.keys_from_escrow:  # disaster recovery: no live store holds the keys any more
            result = await restore(store, args.file, cipher, merge=args.merge, allow_legacy=args.legacy_backup,
                                   key_source=KeyEscrow(args.keys_from_escrow, cipher))
        elif source_config is None:
            result = await restore(store, args.file, cipher, merge=args.merge, allow_legacy=args.legacy_backup)
        else:
            async with _store(source_config) as source:
                result = await restore(store, args.file, cipher, merge=args.merge, key_source=source,
                                       allow_legacy=args.legacy_backup)
    return (f"restored {result.restored} users into {config.type}; skipped {result.skipped_erased} users whose "
            "data key is gone (erased since the backup)")


async def _rotate(args) -> str:
    config = load_config(args.config, args.set)
    new = _cipher_from_file(args.new_key_file, "--new-key-file")
    async with _store(config) as store:
        n = await store.rotate_key(new)
    if config.type == "redis":
        return (f"re-wrapped {n} users under key id {new.key_id}; no record and no router uses the old key any "
                "more: it can be destroyed")
    return (f"re-encrypted {n} users with key id {new.key_id}; the old key no longer opens the store: point "
            "storage.encryption_key_file (or $VOIMID_ENCRYPTION_KEY) at the new key before the next start")


async def _reenroll_needed(args) -> str:
    config = load_config(args.config, args.set)
    model_id = args.model_id or _manifest_model_id(Path(args.model_repository))
    async with _store(config) as store:
        stale = [r.to_user() async for r in store.export_records() if r.model_id != model_id]
    lines = [json.dumps({"user_id": u.user_id, "name": u.name, "model_id": u.model_id}) for u in stale]
    return "\n".join([*lines, f"{len(stale)} users must re-enroll for model {model_id}"])


def _manifest_model_id(repository: Path) -> str:
    manifest = repository / "speaker" / "manifest.json"
    try:
        return json.loads(manifest.read_text())["model_id"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"reenroll-needed: cannot read the model id from {manifest}: {exc}") from None


class Damaged(Exception):
    """verify/repair found damage; the report is the message."""


def _report(report) -> str:
    if not report.ok:
        raise Damaged("\n".join(report.lines))
    return "\n".join(report.lines)


async def _verify(args) -> str:
    config = load_config(args.config, args.set)
    cipher = _cipher_from_file(args.key_file, "--key-file") if args.key_file else load_cipher(config)
    if args.file:
        return _report(verify_file(Path(args.file), cipher))
    if config.type != "file":
        raise SystemExit(f"verify: the {config.type} backend has no files to verify (give --file BACKUP)")
    return _report(verify_store(Path(config.path), cipher))


async def _repair(args) -> str:
    config = load_config(args.config, args.set)
    cipher = _cipher_from_file(args.key_file, "--key-file") if args.key_file else load_cipher(config)
    if args.file:
        if not args.out:
            raise SystemExit("repair --file needs --out for the salvaged copy")
        return _report(repair_backup(Path(args.file), Path(args.out), cipher))
    if config.type != "file":
        raise SystemExit(f"repair: the {config.type} backend has no files to repair (give --file BACKUP)")
    return _report(repair_store(Path(config.path), cipher))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m store", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("gen-key", help="print (or write) a new random 256-bit key")
    gen.add_argument("--out", help="write the key to this file (mode 600) instead of stdout")
    for name, helptext in (("backup", "write an encrypted snapshot of the store to FILE"),
                           ("restore", "load a backup FILE into the store"),
                           ("rotate-key", "re-encrypt everything at rest with a new key"),
                           ("verify", "report every damaged range of the file store (or of --file BACKUP)"),
                           ("repair", "salvage every intact frame of a damaged file store (or --file BACKUP)"),
                           ("reenroll-needed", "list the users enrolled with another model than the served one")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--config", help="YAML/JSON file with the storage settings")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
        _add_command_arguments(name, p)
    return parser


def _add_command_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "rotate-key":
        p.add_argument("--new-key-file", required=True)
    elif name == "reenroll-needed":
        served = p.add_mutually_exclusive_group(required=True)
        served.add_argument("--model-id", help="the served model's id (GET /health with an admin key)")
        served.add_argument("--model-repository", help="read the id from this repository's manifest")
    elif name in ("verify", "repair"):
        p.add_argument("--file", help="a backup file instead of the store")
        p.add_argument("--key-file", help="key for the backup file (default: the store's key)")
        if name == "repair":
            p.add_argument("--out", help="where repair --file writes the salvaged backup")
    else:
        p.add_argument("file")
        p.add_argument("--key-file", help="key for the backup file (default: the store's key)")
    if name == "backup":
        p.add_argument("--escrow-keys", metavar="KEYS",
                       help="also write the backed-up users' data keys here, for restoring after every live "
                            "copy of the store is lost (keep it briefly: it outlives erasures)")
    if name == "restore":
        p.add_argument("--merge", action="store_true", help="upsert into a non-empty store")
        p.add_argument("--keys-from", metavar="CONFIG",
                       help="settings of the store whose data keys decide who is restored (migration; "
                            "default: the target store)")
        p.add_argument("--keys-from-set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting of the --keys-from store")
        p.add_argument("--keys-from-escrow", metavar="KEYS",
                       help="a key escrow written by `backup --escrow-keys` (disaster recovery: users erased "
                            "after it was written come back; see store/README.md)")
        p.add_argument("--legacy-backup", action="store_true",
                       help="restore a version 1 backup (it cannot honour deletions made since)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "gen-key":
        key = generate_key()
        if args.out:
            out = Path(args.out)
            out.touch(mode=0o600, exist_ok=False)
            out.write_text(key + "\n")
            print(f"wrote a new key to {out}")
        else:
            print(key)
        return 0
    run = {"backup": _backup, "restore": _restore, "rotate-key": _rotate, "reenroll-needed": _reenroll_needed,
           "verify": _verify, "repair": _repair}[args.command]
    try:
        print(asyncio.run(run(args)))
    except Damaged as exc:
        print(exc, file=sys.stderr)
        return 4
    except RotationIncomplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (StoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
