"""labelling.segments, labelling.rttm and the scoring helpers the tests and benchmark use."""
from __future__ import annotations

import numpy as np
import pytest

from labelling.rttm import parse_rttm, write_rttm
from labelling.segments import Turn, turns
from labelling.windows import plan_windows
from loadtest.label_eval import diarization_error, speech_agreement


def test_overlapping_windows_split_half_way_and_same_speaker_pieces_merge():
    regions = [(0, 100), (150, 160), (200, 260)]
    windows = plan_windows(regions, window=40, hop=20, min_window=20)
    # region 0: [0,40) [20,60) [40,80) [60,100); region 2: [200,240) [220,260); region 1 is too short.
    labels = np.array([0, 0, 1, 1, 1, 0])
    assert turns(regions, windows, labels) == [
        Turn(0, 50, 0), Turn(50, 100, 1),  # the change falls half way through the overlap of windows 1 and 2
        Turn(150, 160, 1),  # too short to embed: the nearest window (centre 80) speaks
        Turn(200, 230, 1), Turn(230, 260, 0)]


def test_nothing_outside_speech_is_labelled():
    regions = [(0, 100), (300, 400)]
    windows = plan_windows(regions, window=40, hop=20, min_window=20)
    found = turns(regions, windows, np.zeros(len(windows), dtype=int))
    assert found == [Turn(0, 100, 0), Turn(300, 400, 0)]  # the same speaker, still two turns around the pause
    assert turns([], [], np.zeros(0, dtype=int)) == []


def test_rttm_round_trip_and_strict_reading():
    text = write_rttm("meeting 1", [(0.5, 2.25, "speaker_1"), (3.0, 4.0, "Ann Lee"), (5.0, 5.0, "empty")])
    assert text.splitlines()[0] == "SPEAKER meeting_1 1 0.500 1.750 <NA> <NA> speaker_1 <NA> <NA>"
    parsed = parse_rttm(text)
    assert [(t.file_id, t.start, t.end, t.speaker) for t in parsed] == [
        ("meeting_1", 0.5, 2.25, "speaker_1"), ("meeting_1", 3.0, 4.0, "Ann_Lee")]
    with pytest.raises(ValueError, match="line 1"):
        parse_rttm("SPEAKER f 1 abc 1.0 <NA> <NA> s <NA> <NA>")
    with pytest.raises(ValueError, match="line 2"):
        parse_rttm(text.splitlines()[0] + "\nSPEAKER f 1 0.0 -1 <NA> <NA> s <NA> <NA>")
    with pytest.raises(ValueError, match="9 fields"):
        parse_rttm("SPEAKER f 1 0.0")


def test_pyannote_reads_our_rttm(tmp_path):
    pytest.importorskip("pyannote.database", reason="pyannote.metrics (dev extra) brings the reference reader")
    from pyannote.database.util import load_rttm

    path = tmp_path / "x.rttm"
    path.write_text(write_rttm("rec", [(0.0, 1.5, "a"), (2.0, 3.0, "b"), (3.0, 4.5, "a")]))
    annotation = load_rttm(path)["rec"]
    assert sorted(annotation.labels()) == ["a", "b"]
    assert annotation.label_duration("a") == pytest.approx(3.0)


def test_speech_agreement_by_hand():
    truth = [(1.0, 3.0, "a"), (5.0, 6.0, "b")]
    assert speech_agreement(truth, truth, 10.0) == 1.0
    # 0.5 s of speech missed inside a turn, far from any boundary: 50 of 920 scored frames disagree.
    hole = [(1.0, 2.0, "x"), (2.5, 3.0, "x"), (5.0, 6.0, "x")]
    assert speech_agreement(truth, hole, 10.0) == pytest.approx(1 - 50 / 920)
    # Boundaries off by 80 ms: inside the 100 ms collar, so they do not count.
    shifted = [(1.08, 2.92, "x"), (4.92, 6.08, "x")]
    assert speech_agreement(truth, shifted, 10.0) == 1.0


def test_der_by_hand():
    pytest.importorskip("pyannote.metrics")
    truth = [(0.0, 10.0, "a"), (10.0, 20.0, "b")]
    assert diarization_error(truth, [(0.0, 10.0, "x"), (10.0, 20.0, "y")], collar=0.0)["der"] == 0.0
    # 2 s of b labelled as a's speaker (confusion), 1 s missed, 1 s of false alarm, over 20 s of speech.
    found = [(0.0, 12.0, "x"), (12.0, 19.0, "y"), (20.0, 21.0, "y")]
    scores = diarization_error(truth, found, collar=0.0)
    assert scores["confusion"] == pytest.approx(2 / 20) and scores["missed"] == pytest.approx(1 / 20)
    assert scores["false_alarm"] == pytest.approx(1 / 20) and scores["der"] == pytest.approx(4 / 20)
