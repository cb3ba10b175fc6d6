"""`vomid verify` and `vomid identify`: one file against the router, the answer printed as JSON.

`verify` exits 0 when the speaker is verified and 1 when not, so scripts can branch on it.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from client.sync_client import VoMIDClient


def verify(client: VoMIDClient, args: argparse.Namespace) -> int:
    result = client.verify_voiceprint(args.file, threshold=args.threshold, user_id=args.user_id)
    print(json.dumps({k: v for k, v in asdict(result).items() if k != "raw"}, indent=2))
    return 0 if result.verified else 1


def identify(client: VoMIDClient, args: argparse.Namespace) -> int:
    result = client.identify_voiceprint(args.file, top_k=args.top_k)
    print(json.dumps({"candidates": [asdict(c) for c in result.candidates], "warning": result.warning}, indent=2))
    return 0
