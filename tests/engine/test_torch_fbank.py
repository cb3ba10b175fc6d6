"""The batched torch fbank (the GPU front end) against kaldi-native-fbank, on real speech, on CPU torch."""
from __future__ import annotations

import numpy as np
import pytest

from engine.features import FbankConfig, FbankExtractor
from tests.shared_data import utterances

torch = pytest.importorskip("torch")
from engine.torch_fbank import TorchFbank, fbank_many  # noqa: E402  (needs torch)

TOLERANCE = 1e-3  # absolute, on log-mel features
# A few low mel bins of quiet frames sum little energy, where float32 rounding shows: over the shared speech, the
# same algorithm in float64 differs from kaldi-native-fbank by up to 2.2e-3 and from itself in float32 by 3.5e-3.
# So per utterance: at most 0.05 % of the values outside TOLERANCE (measured 0.023 %), none beyond 1e-2 (4.5e-3).
OUTSIDE_SHARE, WORST = 5e-4, 1e-2


def test_every_shared_utterance_matches_kaldi_native_fbank():
    reference, batched = FbankExtractor(), TorchFbank()
    for utterance in utterances():
        wave = utterance.load()
        expected = reference(wave)
        got = batched(torch.from_numpy(wave)[None])[0].numpy()
        assert got.shape == expected.shape, utterance.path
        error = np.abs(got - expected)
        assert (error > TOLERANCE).mean() <= OUTSIDE_SHARE and error.max() <= WORST, (utterance.path, error.max())


def test_a_batch_gives_each_row_its_own_features():
    """Rows of one batch are independent utterances: per-row mean normalisation, no leakage between rows."""
    waves = [u.load()[: 3 * 16000] for u in utterances() if u.seconds >= 3.0][:8]
    batch = TorchFbank()(torch.from_numpy(np.stack(waves))).numpy()
    reference = FbankExtractor()
    for row, wave in zip(batch, waves):
        error = np.abs(row - reference(wave))
        assert (error > TOLERANCE).mean() <= OUTSIDE_SHARE and error.max() <= WORST


def test_mixed_lengths_are_padded_without_changing_any_row():
    """A Triton batch mixes lengths: padded together, each row keeps exactly its own frames and its own mean."""
    waves = [u.load() for u in utterances()][:12]
    waves = [w[: len(w) - 37 * i] for i, w in enumerate(waves)]  # lengths off the frame grid too
    fbank, reference = TorchFbank(), FbankExtractor()
    alone = [fbank(torch.from_numpy(w)[None])[0] for w in waves]
    budget = 2 * max(len(a) for a in alone)  # forces several padded batches
    together = fbank_many(fbank, [torch.from_numpy(w) for w in waves], batch_frames=budget)
    for wave, one, padded in zip(waves, alone, together):
        assert padded.shape == one.shape == reference(wave).shape
        assert torch.allclose(padded, one, atol=1e-4)  # the padding reaches no real frame nor the mean
    shortest = min(range(len(waves)), key=lambda i: len(waves[i]))
    padded_mean = TorchFbank()(torch.nn.functional.pad(torch.from_numpy(waves[shortest]), (0, 16000))[None])[0]
    assert (padded_mean[: len(alone[shortest])] - alone[shortest]).abs().max() > 1e-2  # a whole-row mean would show


def test_the_comparison_can_fail():
    """A front end that differs in one step (a Hann window instead of povey) is far outside the tolerance."""
    wave = next(u for u in utterances() if u.seconds >= 2.0).load()
    wrong = TorchFbank()
    wrong.window = torch.hann_window(wrong.length, periodic=False)
    assert np.abs(wrong(torch.from_numpy(wave)[None])[0].numpy() - FbankExtractor()(wave)).max() > 10 * WORST
    raw_config = FbankConfig(mean_normalize=False)
    unnormalised = TorchFbank(raw_config)(torch.from_numpy(wave)[None])[0].numpy()
    assert np.abs(unnormalised - FbankExtractor(raw_config)(wave)).max() <= WORST
    assert np.abs(unnormalised - FbankExtractor()(wave)).max() > 1.0   # the mean subtraction is really applied


def test_configurations_it_does_not_implement_are_refused():
    for config in (FbankConfig(window_type="hamming"), FbankConfig(snip_edges=False), FbankConfig(dither=1.0)):
        with pytest.raises(ValueError, match="served configuration"):
            TorchFbank(config)
    with pytest.raises(ValueError, match=r"expected \(B, N >= 400\)"):
        TorchFbank()(torch.zeros(1, 399))
