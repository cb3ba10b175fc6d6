"""The GE2E front end (engine.ge2e_preprocess, engine.ge2e_mel) against Resemblyzer's own code, step by step."""
from __future__ import annotations

import numpy as np
import pytest

from engine.contract import InputRejected
from engine.ge2e_config import Ge2eConfig
from engine.ge2e_mel import Ge2eFrontEnd, mel_filterbank, partial_slices
from engine.ge2e_preprocess import dilate, preprocess
from tests.shared_data import utterances

CONFIG = Ge2eConfig()


@pytest.fixture(scope="module")
def resemblyzer():
    audio = pytest.importorskip("resemblyzer.audio", reason="Resemblyzer (the export extra) is the reference")
    from resemblyzer import VoiceEncoder

    return audio, VoiceEncoder


@pytest.fixture(scope="module")
def some_speech():
    return [clip.load() for clip in utterances()[::7]]


def test_preprocessing_is_bit_identical_to_resemblyzer(resemblyzer, some_speech):
    """Volume normalisation and VAD trimming: the same samples, not just close ones."""
    audio, _ = resemblyzer
    for wave in some_speech:
        expected = audio.preprocess_wav(wave, CONFIG.sample_rate)
        ours = preprocess(wave, CONFIG)
        assert ours.dtype == expected.dtype == np.float32
        assert np.array_equal(ours, expected)
        assert len(ours) < len(wave)  # the VAD did trim something: the comparison covers trimming


def test_quiet_speech_is_raised_like_resemblyzer(resemblyzer, some_speech):
    audio, _ = resemblyzer
    quiet = some_speech[0] * 0.01
    assert np.array_equal(preprocess(quiet, CONFIG), audio.preprocess_wav(quiet, CONFIG.sample_rate))


def test_mel_matches_librosa(resemblyzer, some_speech):
    librosa = pytest.importorskip("librosa")
    audio, _ = resemblyzer
    assert np.array_equal(mel_filterbank(16000, 400, 40), librosa.filters.mel(sr=16000, n_fft=400, n_mels=40))
    front_end = Ge2eFrontEnd()
    for wave in some_speech:
        speech = preprocess(wave, CONFIG)
        expected = audio.wav_to_mel_spectrogram(speech)
        ours = front_end.mel_spectrogram(speech)
        assert ours.shape == expected.shape and ours.dtype == np.float32
        # float32 FFT/einsum rounding apart (measured ~1e-8 of the peak)
        assert np.abs(ours - expected).max() <= 1e-5 * expected.max()


def test_partial_windows_match_voice_encoder(resemblyzer):
    _, voice_encoder = resemblyzer
    for n_samples in [1, 480, 15999, 16000, 25600, 25601, 40000, 123457, 16000 * 30, 16000 * 31 + 17]:
        wav_slices, mel_slices = voice_encoder.compute_partial_slices(n_samples, CONFIG.partial_rate,
                                                                      CONFIG.min_coverage)
        starts, covered = partial_slices(n_samples, CONFIG)
        assert starts == [s.start for s in mel_slices], n_samples
        assert covered == wav_slices[-1].stop, n_samples


def test_window_shapes():
    wave = np.random.default_rng(0).normal(0, 0.1, 16000 * 5).astype(np.float32)
    windows = Ge2eFrontEnd().windows(wave)
    assert windows.shape[1:] == (160, 40) and windows.dtype == np.float32
    assert windows.shape[0] == len(partial_slices(len(wave), CONFIG)[0]) >= 3


def test_dilation_equals_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    for size in (1, 7, 50, 301):
        mask = rng.random(size) < 0.2
        assert np.array_equal(dilate(mask, 7), ndimage.binary_dilation(mask, np.ones(7)))


@pytest.mark.parametrize("wave,reason", [
    (np.zeros(1000, np.float32), "too short"),
    (np.zeros(16000, np.float32), "silent"),
])
def test_unusable_input_is_rejected(wave, reason):
    with pytest.raises(InputRejected, match=reason):
        Ge2eFrontEnd()(wave)


def test_config_round_trips_through_triton_parameters():
    config = Ge2eConfig(partial_rate=2.0, vad_mode=1, min_speech_ms=250)
    assert Ge2eConfig.from_params(config.as_params()) == config
    assert Ge2eConfig.from_params({}) == Ge2eConfig()
    assert (CONFIG.n_fft, CONFIG.hop, CONFIG.vad_window) == (400, 160, 480)
