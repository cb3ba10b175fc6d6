"""`vomid`: the Edge-VoMID command line (console script `vomid = client.cli:main`).

Parses arguments and hands each subcommand to its module in client.commands; errors the user can act on are
printed in one line (exit 2), tracebacks are kept for bugs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from client.async_client import AsyncVoMIDClient
from client.commands import delegate, enroll, label, query
from client.commands import score as scoring
from client.env import api_key_from_env, url_from_env
from client.errors import VoMIDError
from client.scoring.errors import ScoringError
from client.sync_client import DEFAULT_TIMEOUT_S, VoMIDClient

DELEGATED = {
    "up": "start the embedded stack: tritonserver + router + file store (`vomid up --help`)",
    "backup": "write an encrypted store snapshot (python -m store backup ...)",
    "restore": "load a store snapshot (python -m store restore ...)",
}


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The router options, accepted before or after the subcommand (a subcommand's copy only sets given values)."""
    def default(value):
        return value if top else argparse.SUPPRESS

    parser.add_argument("--url", default=default(url_from_env()),
                        help="router URL (default: $VOIMID_URL or http://localhost:8080)")
    parser.add_argument("--api-key", default=default(api_key_from_env()),
                        help="API key (default: $VOIMID_API_KEY)")
    parser.add_argument("--timeout", type=float, default=default(DEFAULT_TIMEOUT_S), help="seconds per request")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log retries and progress details")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vomid", description="Edge-VoMID voiceprint authentication client.")
    _add_common(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, top=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)  # arguments pass through: see main()

    p = sub.add_parser("enroll", parents=[common],
                       help="register one speaker per sub-folder of DIR (or per --csv rows)")
    p.add_argument("dir", type=Path, nargs="?", help="folder with one sub-folder of audio files per speaker")
    p.add_argument("--csv", type=Path, help="CSV with `file,speaker` columns instead of a folder")
    p.add_argument("--concurrency", type=int, default=8, help="uploads in flight (default: %(default)s)")
    p.add_argument("--metadata", type=json.loads, default=None, help="JSON object stored with every voiceprint")
    p.add_argument("--out", type=Path, help="write the speaker -> user_id map here as JSON")

    p = sub.add_parser("verify", parents=[common],
                       help="verify FILE (1:1 with --user-id, else 1:N); exit 1 when rejected")
    p.add_argument("file", type=Path)
    p.add_argument("--user-id")
    p.add_argument("--threshold", type=float)

    p = sub.add_parser("identify", parents=[common], help="the enrolled speakers closest to FILE")
    p.add_argument("file", type=Path)
    p.add_argument("--top-k", type=int)

    label.add_label_arguments(sub.add_parser("label", parents=[common],
                                             help="who speaks when in a recording (FILE) or a folder (DIR)"))
    scoring.add_score_arguments(sub.add_parser("score", help="EER/minDCF of a trial list, straight from Triton"))
    scoring.add_calibrate_arguments(sub.add_parser("calibrate", help="print verify.threshold from a score report"))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:  # before argparse, so their own options (and --help) reach them
        return _guarded(lambda: delegate.up(argv[1:]) if argv[0] == "up"
                        else delegate.store_command(argv[0], argv[1:]))
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return _guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command == "score":
        return scoring.score(args)
    if args.command == "calibrate":
        return scoring.calibrate(args)
    if args.command == "enroll":
        return _enroll(args)
    if args.command == "label" and args.path.is_dir():
        return label.label_folder(args)
    with VoMIDClient(args.url, api_key=args.api_key, timeout=args.timeout) as client:
        if args.command == "label":
            return label.label_file(client, args)
        return query.verify(client, args) if args.command == "verify" else query.identify(client, args)


def _enroll(args: argparse.Namespace) -> int:
    if (args.dir is None) == (args.csv is None):
        raise enroll.EnrollListError("give either DIR or --csv FILE")
    speakers = enroll.speakers_from_csv(args.csv) if args.csv else enroll.speakers_from_folder(args.dir)

    async def run() -> enroll.EnrollResult:
        async with AsyncVoMIDClient(args.url, api_key=args.api_key, timeout=args.timeout) as client:
            return await enroll.enroll_speakers(client, speakers, args.concurrency, args.metadata,
                                                progress=sys.stderr.isatty())

    result = asyncio.run(run())
    for path, why in result.failures:
        print(f"failed: {path}: {why}", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(result.user_ids, indent=2) + "\n")
    print(json.dumps(result.user_ids, indent=2))
    print(f"{len(result.user_ids)} speakers, {result.enrolled_files} files enrolled, "
          f"{len(result.failures)} failed", file=sys.stderr)
    return 1 if result.failures else 0


def _guarded(run) -> int:
    try:
        return run()
    except (VoMIDError, ScoringError, enroll.EnrollListError, label.LabelArgumentError, delegate.DelegateMissing,
            OSError, TimeoutError) as exc:
        print(f"vomid: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
