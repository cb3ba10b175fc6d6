"""`vomid up` starts without labelling's VAD model and loads it with the first labelling job.

Labelling is the only user of the `vad` model, so the embedded stack leaves it unloaded (Triton's explicit model
control) until a recording arrives: an edge box that only verifies never pays its python stub's memory and start-up.
"""
from __future__ import annotations

import re
import shutil

import pytest
import tritonclient.grpc as grpcclient

from client import VoMIDClient
from loadtest.bench_footprint import Stack
from loadtest.label_eval import speech_agreement
from loadtest.meetings import build_meeting, read_clips, speakers_with_audio
from tests.shared_data import AUDIO, utterances


def model_states(grpc_url: str) -> dict[str, str]:
    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        return {model.name: model.state for model in client.get_model_repository_index().models}
    finally:
        client.close()


@pytest.fixture
def meeting(tmp_path):
    utterances()  # skips without ../shared
    from engine.vad import SileroVad
    from tools.export.vad import silero_onnx

    clips = read_clips(AUDIO)
    return build_meeting(clips, speakers_with_audio(clips)[:2], 20.0, SileroVad(silero_onnx()[0]), seed=5)


def test_the_vad_model_is_loaded_by_the_first_labelling_job(model_repository, meeting, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copytree(model_repository, site / "model_repository")
    assert (site / "model_repository" / "vad" / "config.pbtxt").exists()
    stack = Stack(site)
    try:
        stack.start(timeout_s=240)
        grpc_url = re.search(r"triton-up ready: http \S+ grpc (\S+)", "".join(stack.output)).group(1)
        states = model_states(grpc_url)
        assert states["speaker"] == states["campplus"] == states["fbank"] == "READY"
        assert states["vad"] != "READY"  # nothing has labelled yet

        recording = meeting.write(tmp_path / "meeting.flac")
        with VoMIDClient(stack.url, api_key=stack.api_key()) as client:
            job = client.label_recording(recording, poll_s=0.2, timeout_s=180)
        assert job.status == "succeeded" and job.segments
        hypothesis = [(s.start, s.end, s.label) for s in job.segments]
        assert speech_agreement(meeting.truth, hypothesis, meeting.seconds) >= 0.95
        assert model_states(grpc_url)["vad"] == "READY"
    finally:
        stack.stop()
