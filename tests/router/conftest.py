"""Router fixtures: real apps from the factory (memory store, the shared real Triton), API keys, real speech."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.config import RouterConfig
from router.keys import append_key
from tests.audio.files import encode
from tests.shared_data import utterances


@pytest.fixture(scope="session")
def key_file(tmp_path_factory) -> tuple[Path, str, str, str]:
    """A key file with an admin, a verify and an identify key; returns (path, admin, verify, identify key)."""
    path = tmp_path_factory.mktemp("keys") / "api_keys"
    admin, _ = append_key(path, ["admin"], "test-admin")
    verifier, _ = append_key(path, ["verify"], "test-verify")
    identifier, _ = append_key(path, ["identify"], "test-identify")
    return path, admin, verifier, identifier


@pytest.fixture(scope="session")
def admin_key(key_file) -> str:
    return key_file[1]


@pytest.fixture(scope="session")
def verify_key(key_file) -> str:
    return key_file[2]


@pytest.fixture(scope="session")
def identify_key(key_file) -> str:
    return key_file[3]


@pytest.fixture(scope="session")
def router_settings(triton, key_file, tmp_path_factory):
    """Returns a factory of config dicts: the shared Triton, a memory store, auth on, a generous rate limit."""
    spool = tmp_path_factory.mktemp("recordings")

    def settings(**overrides) -> dict:
        base = {
            "environment": "test",
            "auth": {"enabled": True, "keys_file": str(key_file[0])},
            "rate_limit": {"enabled": True, "rate_per_s": 1000, "burst": 1000, "backend": "memory"},
            "storage": {"type": "memory"},
            "triton": {"instances": [triton.grpc_url], "model_name": "speaker"},
            "audit": {"enabled": True},
            "recordings": {"spool_dir": str(spool)},
        }
        for section, values in overrides.items():
            if isinstance(values, dict) and isinstance(base.get(section), dict):
                base[section] = {**base[section], **values}
            else:
                base[section] = values
        return base
    return settings


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def make_client():
    """Starts router apps (through create_app) on test servers; all are closed at the end of the session."""
    clients: list[TestClient] = []

    async def start(settings: dict) -> TestClient:
        client = TestClient(TestServer(create_app(RouterConfig.from_dict(settings))))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def client(make_client, router_settings) -> TestClient:
    """The shared router app with auth on (tests clean up the users they create)."""
    return await make_client(router_settings())


@pytest.fixture(scope="session")
def speech() -> dict[str, list[np.ndarray]]:
    """Real speech by speaker: 2-9 s utterances as 16 kHz mono float32."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for utt in utterances():
        if 2.0 <= utt.seconds <= 9.0:
            by_speaker.setdefault(utt.speaker, []).append(utt.load())
    return {s: u for s, u in by_speaker.items() if len(u) >= 2}


@pytest.fixture(scope="session")
def a_clip(speech) -> np.ndarray:
    return next(iter(speech.values()))[0]


@pytest.fixture(scope="session")
def wav(a_clip) -> bytes:
    return encode(a_clip, "wav16")


def form(audio: bytes | None = None, filename: str = "clip.wav", **fields) -> FormData:
    data = FormData()
    for name, value in fields.items():
        data.add_field(name, str(value))
    if audio is not None:
        data.add_field("audio", audio, filename=filename, content_type="application/octet-stream")
    return data


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
