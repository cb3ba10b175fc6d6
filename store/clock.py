"""The store's one clock for timestamps and last use (so a test can move time instead of sleeping)."""
from __future__ import annotations

import time


def now() -> float:
    return time.time()
