"""Speaker labelling from the SDK (both clients) and `vomid label` (FILE through the router, DIR through Triton)."""
from __future__ import annotations

import shutil

import pytest
import requests
import soundfile as sf

from client import AsyncVoMIDClient, NotFound, PermissionDenied, VoMIDClient
from client.cli import main
from labelling.rttm import parse_rttm
from loadtest.label_eval import speech_agreement
from loadtest.meetings import build_meeting, read_clips, speakers_with_audio
from tests.shared_data import AUDIO, utterances


@pytest.fixture(scope="module")
def meeting():
    utterances()  # skips without ../shared
    from engine.vad import SileroVad
    from tools.export.vad import silero_onnx

    clips = read_clips(AUDIO)
    return build_meeting(clips, speakers_with_audio(clips)[:2], 30.0, SileroVad(silero_onnx()[0]), seed=21)


@pytest.fixture(scope="module")
def recording(meeting, tmp_path_factory):
    return meeting.write(tmp_path_factory.mktemp("rec") / "meeting.flac")


def test_sync_label_recording_waits_with_progress(router_url, api_keys, recording, meeting):
    seen = []
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        job = client.label_recording(recording, progress=seen.append, poll_s=0.1)
    assert job.status == "succeeded" and job.filename is None and job.segments
    assert seen[-1].status == "succeeded" and any(j.status == "running" for j in seen)
    hypothesis = [(s.start, s.end, s.label) for s in job.segments]
    assert speech_agreement(meeting.truth, hypothesis, meeting.seconds) >= 0.95
    served = requests.get(f"{router_url}/api/v1/recordings/{job.job_id}", params={"format": "rttm"},
                          headers={"X-API-Key": api_keys["admin"]}, timeout=10).text
    assert job.rttm() == served  # the SDK's RTTM is the server's, byte for byte
    assert len(parse_rttm(served)) == len(job.segments)


def test_sync_no_wait_delete_and_scope(router_url, api_keys, recording):
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        job = client.label_recording(recording, wait=False, num_speakers=2)
        assert job.status == "queued" and not job.finished
        deleted = client.delete_recording(job.job_id)
        assert (deleted["job_id"], deleted["deleted"], deleted["cancelled"]) == (job.job_id, True, True)
        with pytest.raises(NotFound):
            client.wait_recording(job.job_id)  # erased, not merely cancelled
    with VoMIDClient(router_url, api_key=api_keys["verify"]) as client, pytest.raises(PermissionDenied):
        client.label_recording(recording)
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client, pytest.raises(FileNotFoundError):
        client.label_recording(recording.with_name("missing.flac"))


async def test_async_label_recording(router_url, api_keys, recording):
    async with AsyncVoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        job = await client.label_recording(recording, num_speakers=2, poll_s=0.1)
        assert job.status == "succeeded" and len({s.label for s in job.segments}) <= 2
        again = await client.recording(job.job_id)
        assert again.segments == job.segments


def test_cli_file_writes_rttm_and_json(router_url, api_keys, recording, tmp_path, capsys):
    base = ["--url", router_url, "--api-key", api_keys["admin"]]
    rttm, result = tmp_path / "out.rttm", tmp_path / "out.json"
    assert main([*base, "label", str(recording), "--rttm", str(rttm), "--json", str(result)]) == 0
    turns = parse_rttm(rttm.read_text())
    assert turns and {t.file_id for t in turns} == {"meeting.flac"}
    assert "speaker_1" in capsys.readouterr().err
    assert main([*base, "label", str(recording), "--no-wait"]) == 0
    assert len(capsys.readouterr().out.strip()) >= 16  # the job id
    assert main([*base, "label", str(recording), "--num-speakers", "40"]) == 2


def test_cli_folder_labels_through_triton(triton, recording, tmp_path, capsys):
    folder = tmp_path / "calls"
    (folder / "day1").mkdir(parents=True)
    shutil.copy(recording, folder / "a.flac")
    data, rate = sf.read(recording)
    sf.write(folder / "day1" / "b.wav", data[: rate * 12], rate)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really")
    out = tmp_path / "rttm"
    code = main(["label", str(folder), "--grpc-url", triton.grpc_url, "--rttm", str(out)])
    assert code == 1  # one file failed, and says so
    assert "broken.wav" in capsys.readouterr().err
    assert parse_rttm((out / "a.rttm").read_text()) and parse_rttm((out / "day1" / "b.rttm").read_text())
    assert not (out / "broken.rttm").exists()
    assert main(["label", str(tmp_path / "empty-dir-that-does-not-exist")]) == 2
