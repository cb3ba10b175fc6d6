"""`VoMIDClient`: the blocking SDK, on a `requests` session (connection reuse, timeouts, bounded retries)."""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

import requests

from client import api
from client.audio import AudioInput, to_upload
from client.env import api_key_from_env
from client.errors import ResponseError, TransportError, VoMIDError, error_from_response
from client.models import Health, IdentifyResult, VerifyResult, Voiceprint, VoiceprintPage
from client.recordings import Poll, RecordingJob
from client.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0


class VoMIDClient:
    """Calls the router at `base_url`. Usable as a context manager; otherwise call `close()` when done.

    `api_key` defaults to $VOIMID_API_KEY (as the CLI does), so the quick-start example needs no key in code.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._session = session or requests.Session()
        self._session.headers["Accept"] = "application/json"
        api_key = api_key_from_env() if api_key is None else api_key
        if api_key:
            self._session.headers["X-API-Key"] = api_key

    def register_voiceprint(self, name: str, audio_file: AudioInput, metadata: dict[str, Any] | None = None, *,
                            sample_rate: int | None = None) -> str:
        """Creates a voiceprint from one utterance; returns its user_id."""
        return self._send(api.register(name, to_upload(audio_file, sample_rate), metadata))

    def verify_voiceprint(self, audio_file: AudioInput, threshold: float | None = None, user_id: str | None = None,
                          *, sample_rate: int | None = None) -> VerifyResult:
        """1:1 against `user_id` when given, else against the best match of everyone enrolled."""
        return self._send(api.verify(to_upload(audio_file, sample_rate), threshold, user_id))

    def identify_voiceprint(self, audio_file: AudioInput, top_k: int | None = None, *,
                            sample_rate: int | None = None) -> IdentifyResult:
        return self._send(api.identify(to_upload(audio_file, sample_rate), top_k))

    def enroll_voiceprint(self, user_id: str, audio_file: AudioInput, *,
                          sample_rate: int | None = None) -> dict[str, Any]:
        """Adds one more utterance to an existing voiceprint."""
        return self._send(api.enroll(user_id, to_upload(audio_file, sample_rate)))

    def get_voiceprint(self, user_id: str) -> Voiceprint:
        return self._send(api.get(user_id))

    def delete_voiceprint(self, user_id: str) -> dict[str, Any]:
        return self._send(api.delete(user_id))

    def list_voiceprints(self, offset: int = 0, limit: int = 50) -> VoiceprintPage:
        return self._send(api.list_page(offset, limit))

    def stats(self) -> dict[str, Any]:
        return self._send(api.stats())

    def health(self) -> Health:
        return self._send(api.health())

    def label_recording(self, path: str | Path, wait: bool = True, num_speakers: int | None = None, *,
                        poll_s: float = 1.0, timeout_s: float | None = None,
                        progress: Callable[[RecordingJob], None] | None = None) -> RecordingJob:
        """Who speaks when in a long recording (scope label): uploads it, then waits for the result (or not)."""
        job = self._send(api.label_submit(Path(path), num_speakers))
        return self.wait_recording(job.job_id, poll_s, timeout_s, progress) if wait else job

    def recording(self, job_id: str) -> RecordingJob:
        return self._send(api.label_status(job_id))

    def wait_recording(self, job_id: str, poll_s: float = 1.0, timeout_s: float | None = None,
                       progress: Callable[[RecordingJob], None] | None = None) -> RecordingJob:
        """Polls until the job ends; raises LabelJobFailed if it failed or was cancelled."""
        poll = Poll(poll_s, timeout_s, progress)
        while not poll.done(job := self.recording(job_id)):
            time.sleep(poll_s)
        return job

    def delete_recording(self, job_id: str) -> dict[str, Any]:
        """Stops the job if it still runs and erases it on the server (audio, state, result): {"cancelled": bool}."""
        return self._send(api.label_delete(job_id))

    cancel_recording = delete_recording  # the name before deletion erased the job

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "VoMIDClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, call: api.Call) -> Any:
        attempt = 0
        while True:
            attempt += 1
            timeout = call.timeout or self.timeout
            try:
                with _body(call) as data:
                    response = self._session.request(
                        call.method, self.base_url + call.path, params=call.params or None, headers=call.headers,
                        data=data, files=self._files(call), timeout=(min(CONNECT_TIMEOUT_S, timeout), timeout))
            except requests.RequestException as exc:
                error: VoMIDError = TransportError(f"{call.method} {call.path}: {exc}")
                wait = self.retry.delay(attempt, None) if call.repeatable else None
            else:
                if call.accepts(response.status_code):
                    return call.parse(_json_body(response))
                error = error_from_response(response.status_code, response.content, response.headers)
                wait = (self.retry.delay(attempt, getattr(error, "retry_after", None))
                        if self.retry.retries_status(response.status_code) else None)
            if wait is None:
                raise error
            log.info("%s %s: %s; retrying in %.2fs (attempt %d)", call.method, call.path, error, wait, attempt + 1)
            time.sleep(wait)

    @staticmethod
    def _files(call: api.Call):
        if call.upload is None:
            return None
        return {"audio": (call.upload.filename, call.upload.data, call.upload.content_type)}


@contextlib.contextmanager
def _body(call: api.Call):
    """The form fields, or the streamed file (opened per attempt, so a retry sends it from the start)."""
    if call.stream is None:
        yield call.fields or None
        return
    with open(call.stream, "rb") as handle:
        yield handle


def _json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ResponseError(f"expected JSON, got {response.headers.get('Content-Type')!r}: "
                            f"{response.text[:200]}", status=response.status_code) from None
