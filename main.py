"""Starts Edge-VoMID from a source checkout (kept for compatibility; installed, use `vomid` or `python -m router`).

`python main.py --config config/production.yaml` runs the router alone, like `python -m router --config ...`.
`python main.py up [--random-weights | --checkpoint F | --onnx F | --model-dir D] [--port 8080]` runs the embedded
stack, like `vomid up ...`.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["up"]:
        from vomid.__main__ import main as vomid_main

        return vomid_main(argv)
    from router.__main__ import main as router_main

    return router_main(argv)


if __name__ == "__main__":
    sys.exit(main())
