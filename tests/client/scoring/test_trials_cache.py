"""Trial-list parsing, the embedding cache's keys, audio loading of other formats, and report thresholds."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from client.scoring.audio_loader import load_waveform
from client.scoring.cache import EmbeddingCache
from client.scoring.errors import AudioLoadError, ReportError, TrialListError
from client.scoring.report import threshold_for
from client.scoring.trials import parse_trials


def test_parses_voxceleb_and_word_labels(tmp_path):
    trials = tmp_path / "trials.txt"
    trials.write_text("1 id1/a.wav id1/b.wav\n\n# comment\n0 id1/a.wav id2/c.wav\ntarget x.wav y.wav\n"
                      "nontarget x.wav z.wav\n")
    parsed = parse_trials(trials, tmp_path / "wav")
    assert [t.target for t in parsed] == [True, False, True, False]
    assert parsed[0].enroll == tmp_path / "wav" / "id1/a.wav"
    assert parse_trials(trials)[0].test == tmp_path / "id1/b.wav"  # default root: the list's folder


@pytest.mark.parametrize("text", ["2 a.wav b.wav\n", "1 a.wav\n", ""])
def test_bad_trial_lists_name_the_line(tmp_path, text):
    trials = tmp_path / "bad.txt"
    trials.write_text(text)
    with pytest.raises(TrialListError, match="bad.txt"):
        parse_trials(trials)


def test_cache_key_follows_file_and_model(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"one")
    cache = EmbeddingCache(tmp_path / "cache", "ab" * 32)
    assert cache.get(audio) is None
    cache.put(audio, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(cache.get(audio), np.arange(4))
    assert EmbeddingCache(tmp_path / "cache", "cd" * 32).get(audio) is None  # another model
    stat = audio.stat()
    os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cache.get(audio) is None  # the file changed


def test_loads_other_rates_and_channels_as_16k_mono(tmp_path):
    rate = 44100
    stereo = np.stack([np.sin(np.arange(rate) / 20), np.zeros(rate)], axis=1).astype(np.float32) * 0.5
    path = tmp_path / "stereo.ogg"
    sf.write(path, stereo, rate, format="OGG", subtype="VORBIS")
    waveform = load_waveform(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(len(waveform) - 16000) <= 16
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(AudioLoadError, match="junk.wav"):
        load_waveform(tmp_path / "junk.wav")


def test_threshold_for_reads_each_operating_point(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"thresholds": {"eer": 0.3, "mindcf-0.01": 0.5, "mindcf-0.001": 0.6}}))
    assert threshold_for(report, "mindcf-0.01") == 0.5
    with pytest.raises(ReportError):
        threshold_for(report, "nonsense")
    with pytest.raises(ReportError):
        threshold_for(tmp_path / "missing.json", "eer")
