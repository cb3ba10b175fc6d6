"""SDK fixtures: the real router (from its factory, real Triton, memory store) served on a real port.

The router runs on its own event loop in a background thread, so the blocking `VoMIDClient` (requests) and the
asyncio `AsyncVoMIDClient` both reach it over TCP as they would in production.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from aiohttp import web

from router.app import create_app
from router.config import RouterConfig
from router.keys import append_key
from tests.shared_data import utterances


class RouterThread:
    def __init__(self, settings: dict):
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="router", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> "RouterThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(120)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    async def _serve(self) -> None:
        # Built on the router's own loop: the app's clients belong to it. Returns once startup has run.
        self._runner = web.AppRunner(create_app(RouterConfig.from_dict(self.settings)))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory) -> dict[str, object]:
    """A key file with one admin and one verify-only key."""
    path = tmp_path_factory.mktemp("client-keys") / "api_keys"
    admin, _ = append_key(path, ["admin"], "sdk-admin")
    verifier, _ = append_key(path, ["verify"], "sdk-verify")
    return {"file": path, "admin": admin, "verify": verifier}


@pytest.fixture(scope="session")
def start_router(triton, api_keys, tmp_path_factory):
    """Starts routers with the test settings plus `overrides` (per section); all stop at the end of the session."""
    routers: list[RouterThread] = []
    spool = tmp_path_factory.mktemp("recordings")

    def start(**overrides) -> str:
        settings = {
            "environment": "test",
            "auth": {"enabled": True, "keys_file": str(api_keys["file"])},
            "rate_limit": {"enabled": True, "rate_per_s": 1000, "burst": 1000, "backend": "memory"},
            "storage": {"type": "memory"},
            "triton": {"instances": [triton.grpc_url], "model_name": "speaker"},
            "audit": {"enabled": False},
            "recordings": {"spool_dir": str(spool)},
        }
        for section, values in overrides.items():
            settings[section] = {**settings.get(section, {}), **values}
        router = RouterThread(settings).start()
        routers.append(router)
        return router.url

    yield start
    for router in routers:
        router.stop()


@pytest.fixture(scope="session")
def router_url(start_router) -> str:
    return start_router()


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, list[Path]]:
    """Real speech (2-9 s files, WAV or FLAC) of two speakers: speaker -> two paths."""
    by_speaker: dict[str, list[Path]] = {}
    for utt in utterances():
        if 2.0 <= utt.seconds <= 9.0:
            by_speaker.setdefault(utt.speaker, []).append(utt.path)
    chosen = [s for s, paths in sorted(by_speaker.items()) if len(paths) >= 2][:2]
    return {speaker: by_speaker[speaker][:2] for speaker in chosen}


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(path, dtype="float32")
    return samples, rate
