"""`python -m vomid.launch_triton --model-repository DIR --grpc-port P ...`: one tritonserver as a service process.

Runs the bundled (or NGC) tritonserver in the foreground through `TritonServer`, until SIGTERM/SIGINT (a clean
stop, exit 0) or until the server dies (exit with its code, after its stubs and shared memory are reaped). The
local cluster (`scripts/deploy.sh --local`) runs each Triton instance this way; if the launcher itself is killed,
the server goes with it (PR_SET_PDEATHSIG) and the next launcher removes what was left behind.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from vomid.tritonserver import TritonServer, TritonStartError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m vomid.launch_triton", description=__doc__.splitlines()[0])
    top.add_argument("--model-repository", type=Path, required=True)
    top.add_argument("--name", default="triton")
    for kind in ("http", "grpc", "metrics"):
        top.add_argument(f"--{kind}-port", type=int, default=0, help="0: a free port")
    top.add_argument("--start-timeout", type=float, default=300.0)
    top.add_argument("--verbose", action="store_true", help="forward every server log line, not only warnings")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tritonserver").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    server = TritonServer(args.model_repository, http_port=args.http_port, grpc_port=args.grpc_port,
                          metrics_port=args.metrics_port, name=args.name, die_with_parent=True)
    try:
        server.start(timeout=args.start_timeout)
    except TritonStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    while not stopping.is_set() and server.is_running():
        stopping.wait(0.5)  # the signal handler or the server's death ends the wait
    code = server.returncode
    server.stop()
    if stopping.is_set():
        return 0
    logging.getLogger(__name__).error("%s exited with code %s", args.name, code)
    return code if code and code > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
