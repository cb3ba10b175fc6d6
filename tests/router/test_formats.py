"""Every upload format, rate and layout through the real router: the same speech scores as the same speaker."""
from __future__ import annotations

import pytest

from tests.audio.files import encode
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")

# (format, rate, channels, minimum cosine to the 16 kHz mono WAV enrollment of the same clip). 8 kHz drops the
# 4-8 kHz band and 8-bit PCM is coarse, so those floors are lower (measured with the random-weight test model).
CASES = [
    ("wav16", 8000, 1, 0.45), ("wav16", 22050, 2, 0.97), ("wav16", 48000, 2, 0.97), ("wav24", 44100, 1, 0.97),
    ("wavfloat", 48000, 2, 0.97), ("wav8", 22050, 1, 0.4), ("flac", 44100, 2, 0.97), ("flac24", 22050, 1, 0.97),
    ("mp3", 44100, 2, 0.7), ("mp3", 22050, 1, 0.7), ("ogg", 48000, 2, 0.7), ("ogg", 8000, 1, 0.5),
    ("opus", 48000, 2, 0.7), ("m4a", 44100, 2, 0.7), ("m4a", 22050, 1, 0.7),
]


@pytest.fixture(scope="module")
def clip(speech):
    return list(speech.values())[1][0]


async def test_formats_verify_against_wav_enrollment(client, admin_key, verify_key, clip):
    response = await client.post("/api/v1/voiceprint/register", headers=auth(admin_key),
                                 data=form(encode(clip, "wav16"), name="formats"))
    user = (await response.json())["user_id"]
    failures = []
    try:
        for fmt, rate, channels, minimum in CASES:
            response = await client.post("/api/v1/voiceprint/verify", headers=auth(verify_key),
                                         data=form(encode(clip, fmt, rate, channels), f"clip.{fmt}", user_id=user))
            body = await response.json()
            if response.status != 200 or body["confidence"] < minimum:
                failures.append(f"{fmt} {rate} Hz x{channels}: {response.status} {body}")
    finally:
        await client.delete(f"/api/v1/voiceprint/{user}", headers=auth(admin_key))
    assert not failures, "\n".join(failures)
