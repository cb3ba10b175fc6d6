"""`AsyncVoMIDClient`: the asyncio SDK on aiohttp, with the same methods as `VoMIDClient` (awaitable).

Audio encoding (numpy -> WAV, reading files) runs in a worker thread so it never blocks the event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

import aiohttp

from client import api
from client.audio import AudioInput, to_upload
from client.env import api_key_from_env
from client.errors import ResponseError, TransportError, VoMIDError, error_from_response
from client.models import Health, IdentifyResult, VerifyResult, Voiceprint, VoiceprintPage
from client.recordings import Poll, RecordingJob
from client.retry import RetryPolicy
from client.sync_client import CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)


class AsyncVoMIDClient:
    """Use as `async with AsyncVoMIDClient(url) as client:`, or call `await client.close()` when done.

    `api_key` defaults to $VOIMID_API_KEY, like `VoMIDClient`.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, max_connections: int = 100):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        api_key = api_key_from_env() if api_key is None else api_key
        self._headers = {"Accept": "application/json", **({"X-API-Key": api_key} if api_key else {})}
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def register_voiceprint(self, name: str, audio_file: AudioInput, metadata: dict[str, Any] | None = None,
                                  *, sample_rate: int | None = None) -> str:
        return await self._send(api.register(name, await _upload(audio_file, sample_rate), metadata))

    async def verify_voiceprint(self, audio_file: AudioInput, threshold: float | None = None,
                                user_id: str | None = None, *, sample_rate: int | None = None) -> VerifyResult:
        return await self._send(api.verify(await _upload(audio_file, sample_rate), threshold, user_id))

    async def identify_voiceprint(self, audio_file: AudioInput, top_k: int | None = None, *,
                                  sample_rate: int | None = None) -> IdentifyResult:
        return await self._send(api.identify(await _upload(audio_file, sample_rate), top_k))

    async def enroll_voiceprint(self, user_id: str, audio_file: AudioInput, *,
                                sample_rate: int | None = None) -> dict[str, Any]:
        return await self._send(api.enroll(user_id, await _upload(audio_file, sample_rate)))

    async def get_voiceprint(self, user_id: str) -> Voiceprint:
        return await self._send(api.get(user_id))

    async def delete_voiceprint(self, user_id: str) -> dict[str, Any]:
        return await self._send(api.delete(user_id))

    async def list_voiceprints(self, offset: int = 0, limit: int = 50) -> VoiceprintPage:
        return await self._send(api.list_page(offset, limit))

    async def stats(self) -> dict[str, Any]:
        return await self._send(api.stats())

    async def health(self) -> Health:
        return await self._send(api.health())

    async def label_recording(self, path: str | Path, wait: bool = True, num_speakers: int | None = None, *,
                              poll_s: float = 1.0, timeout_s: float | None = None,
                              progress: Callable[[RecordingJob], None] | None = None) -> RecordingJob:
        """Who speaks when in a long recording (scope label): uploads it, then waits for the result (or not)."""
        job = await self._send(api.label_submit(Path(path), num_speakers))
        return await self.wait_recording(job.job_id, poll_s, timeout_s, progress) if wait else job

    async def recording(self, job_id: str) -> RecordingJob:
        return await self._send(api.label_status(job_id))

    async def wait_recording(self, job_id: str, poll_s: float = 1.0, timeout_s: float | None = None,
                             progress: Callable[[RecordingJob], None] | None = None) -> RecordingJob:
        poll = Poll(poll_s, timeout_s, progress)
        while not poll.done(job := await self.recording(job_id)):
            await asyncio.sleep(poll_s)
        return job

    async def delete_recording(self, job_id: str) -> dict[str, Any]:
        """Stops the job if it still runs and erases it on the server (audio, state, result): {"cancelled": bool}."""
        return await self._send(api.label_delete(job_id))

    cancel_recording = delete_recording  # the name before deletion erased the job

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "AsyncVoMIDClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout, connect=min(CONNECT_TIMEOUT_S, self.timeout))
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections))
        return self._session

    async def _send(self, call: api.Call) -> Any:
        session = self._client_session()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with _body(call) as data, session.request(
                        call.method, self.base_url + call.path, params=call.params or None, headers=call.headers,
                        data=data, timeout=_timeout(call)) as response:
                    body = await response.read()
                    if call.accepts(response.status):
                        return call.parse(_json_body(response, body))
                    error: VoMIDError = error_from_response(response.status, body, response.headers)
                    wait = (self.retry.delay(attempt, getattr(error, "retry_after", None))
                            if self.retry.retries_status(response.status) else None)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = TransportError(f"{call.method} {call.path}: {str(exc) or type(exc).__name__}")
                wait = self.retry.delay(attempt, None) if call.repeatable else None
            if wait is None:
                raise error
            log.info("%s %s: %s; retrying in %.2fs (attempt %d)", call.method, call.path, error, wait, attempt + 1)
            await asyncio.sleep(wait)


async def _upload(audio: AudioInput, sample_rate: int | None):
    if hasattr(audio, "read"):  # the caller owns the file object: read it here, not from another thread
        return to_upload(audio, sample_rate)
    return await asyncio.to_thread(to_upload, audio, sample_rate)


@contextlib.asynccontextmanager
async def _body(call: api.Call):
    """The multipart form, or the streamed file (opened per attempt, so a retry sends it from the start)."""
    if call.stream is None:
        yield _form(call)
        return
    handle = await asyncio.to_thread(open, call.stream, "rb")
    try:
        yield handle
    finally:
        handle.close()


def _timeout(call: api.Call) -> aiohttp.ClientTimeout | None:
    return aiohttp.ClientTimeout(total=call.timeout, connect=CONNECT_TIMEOUT_S) if call.timeout else None


def _form(call: api.Call) -> aiohttp.FormData | None:
    if not call.multipart:
        return None
    form = aiohttp.FormData()
    for key, value in call.fields.items():
        form.add_field(key, value)
    if call.upload is not None:
        form.add_field("audio", call.upload.data, filename=call.upload.filename,
                       content_type=call.upload.content_type)
    return form


def _json_body(response: aiohttp.ClientResponse, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ResponseError(f"expected JSON, got {response.headers.get('Content-Type')!r}: "
                            f"{body[:200].decode('utf-8', 'replace')}", status=response.status) from None
