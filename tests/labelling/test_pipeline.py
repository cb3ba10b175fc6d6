"""The labelling pipeline in-process (the same ONNX files Triton serves): boundaries, progress, limits, memory."""
from __future__ import annotations

import asyncio
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from audio import AudioError
from labelling.local import LocalEmbedder, LocalVad
from labelling.pipeline import LabelPipeline
from labelling.rttm import parse_rttm
from loadtest.label_eval import speech_agreement
from loadtest.meetings import build_meeting, read_clips, speakers_with_audio
from tests.audio.files import encode
from tests.shared_data import AUDIO, utterances
from tools.export.repository import EMBEDDING_MODEL
from tools.export.vad import ONNX_NAME, VAD_MODEL


@pytest.fixture(scope="module")
def pipeline(model_repository) -> LabelPipeline:
    return LabelPipeline(LocalVad(model_repository / VAD_MODEL / "1" / ONNX_NAME),
                         LocalEmbedder(model_repository / EMBEDDING_MODEL / "1" / "model.onnx"))


@pytest.fixture(scope="module")
def meeting(vad):
    utterances()  # skips without ../shared
    clips = read_clips(AUDIO)
    return build_meeting(clips, speakers_with_audio(clips)[:3], 75.0, vad, seed=5)


def _hypothesis(result):
    return [(s.start, s.end, s.label) for s in result.segments]


async def test_meeting_boundaries_progress_and_rttm(pipeline, meeting, tmp_path):
    path = meeting.write(tmp_path / "meeting.flac")
    seen: list[tuple[float, str]] = []
    result = await pipeline.run(path, progress=lambda fraction, stage: seen.append((fraction, stage)))
    assert result.duration_s == pytest.approx(meeting.seconds, abs=0.01)
    assert speech_agreement(meeting.truth, _hypothesis(result), meeting.seconds) >= 0.95
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 10
    assert {"detecting speech", "embedding", "clustering", "done"} <= {stage for _, stage in seen}
    turns = parse_rttm(result.rttm("meeting"))
    assert len(turns) == len(result.segments) and result.segments
    assert {s.label for s in result.segments} == {s.label for s in result.speakers}
    assert all(s.label.startswith("speaker_") and s.user_id is None for s in result.segments)  # no matcher
    assert sum(s.seconds for s in result.speakers) == pytest.approx(result.speech_s, abs=0.05)


async def test_resampled_stereo_upload_gives_the_same_boundaries(pipeline, meeting, tmp_path):
    path = tmp_path / "meeting.ogg"
    path.write_bytes(encode(meeting.waveform[: 40 * 16000], "ogg", rate=44100, channels=2))
    result = await pipeline.run(path)
    truth = [(s, min(e, 40.0), who) for s, e, who in meeting.truth if s < 40.0]
    assert speech_agreement(truth, _hypothesis(result), 40.0) >= 0.95


async def test_limits_and_bad_input(pipeline, tmp_path, meeting):
    path = meeting.write(tmp_path / "long.flac")
    short = LabelPipeline(pipeline.vad, pipeline.embedder, max_seconds=20.0)
    with pytest.raises(AudioError) as error:
        await short.run(path)
    assert error.value.code == "audio_too_long"
    garbage = tmp_path / "x.wav"
    garbage.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AudioError) as error:
        await pipeline.run(garbage)
    assert error.value.code == "unsupported_format"
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError) as error:
        await pipeline.run(empty)
    assert error.value.code == "empty_audio"


async def test_silence_has_no_speakers(pipeline, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, (np.random.default_rng(0).standard_normal(16000 * 20) * 1e-4).astype(np.float32), 16000)
    result = await pipeline.run(path)
    assert result.segments == [] and result.speakers == [] and result.speech_s == 0.0
    assert result.rttm("silence") == ""


async def test_cancel_stops_the_run(pipeline, meeting, tmp_path):
    path = meeting.write(tmp_path / "cancel.flac")
    started = asyncio.Event()
    task = asyncio.create_task(pipeline.run(path, progress=lambda f, s: f > 0.05 and started.set()))
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_memory_does_not_grow_with_the_recording(pipeline, tmp_path, meeting):
    """8 minutes of audio (mostly faint noise): Python-side memory stays far below the decoded recording."""
    noise = (np.random.default_rng(1).standard_normal(16000 * 60 * 8) * 1e-4).astype(np.float32)
    noise[16000 * 60: 16000 * 60 + meeting.waveform.size // 3] = meeting.waveform[: meeting.waveform.size // 3]
    path = tmp_path / "long.flac"
    sf.write(path, noise, 16000)
    decoded_mb = noise.nbytes / 2 ** 20
    del noise
    tracemalloc.start()
    result = await pipeline.run(path)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    assert result.duration_s == pytest.approx(480, abs=0.1) and result.segments
    assert peak_mb < 16, f"peak {peak_mb:.1f} MB for a recording of {decoded_mb:.0f} MB decoded"
