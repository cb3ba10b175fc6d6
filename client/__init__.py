"""Edge-VoMID client: Python SDK for the REST API (sync and asyncio), and the `vomid` command line.

    from client import VoMIDClient
    client = VoMIDClient("http://localhost:8080", api_key="...")
    user_id = client.register_voiceprint(name="Ada", audio_file="ada.wav", metadata={"team": "ops"})
    result = client.verify_voiceprint(audio_file="probe.wav", threshold=0.6)
"""
from client.async_client import AsyncVoMIDClient
from client.errors import (AudioRejected, AuthenticationError, NotFound, PermissionDenied, RateLimited,
                           ResponseError, ServerError, ServiceUnavailable, TransportError, ValidationError,
                           VoMIDError)
from client.models import Candidate, Health, IdentifyResult, VerifyResult, Voiceprint, VoiceprintPage
from client.recordings import LabelJobFailed, LabelSegment, RecordingJob
from client.retry import RetryPolicy
from client.sync_client import VoMIDClient

__all__ = [
    "VoMIDClient", "AsyncVoMIDClient", "RetryPolicy",
    "VerifyResult", "IdentifyResult", "Candidate", "Voiceprint", "VoiceprintPage", "Health",
    "VoMIDError", "AuthenticationError", "PermissionDenied", "NotFound", "ValidationError", "AudioRejected",
    "RateLimited", "ServiceUnavailable", "ServerError", "TransportError", "ResponseError",
    "RecordingJob", "LabelSegment", "LabelJobFailed",
]
