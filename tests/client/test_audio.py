"""Every accepted audio input becomes the same kind of upload; arrays round-trip through WAV."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from client.audio import to_upload


def _tone(rate: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)


def test_array_with_rate_is_encoded_as_wav():
    for upload in (to_upload(_tone(), 16000), to_upload((_tone(8000), 8000))):
        assert upload.content_type == "audio/wav"
        samples, rate = sf.read(io.BytesIO(upload.data), dtype="float32")
        assert rate in (16000, 8000) and samples.shape == (rate,)
        np.testing.assert_allclose(samples, _tone(rate), atol=1e-4)


def test_path_bytes_and_file_object(tmp_path):
    path = tmp_path / "probe.flac"
    sf.write(path, _tone(), 16000)
    from_path = to_upload(path)
    assert (from_path.filename, from_path.content_type) == ("probe.flac", "audio/flac")
    assert to_upload(str(path)).data == from_path.data
    assert to_upload(path.read_bytes()).data == from_path.data
    with path.open("rb") as handle:
        from_file = to_upload(handle)
    assert (from_file.filename, from_file.data) == ("probe.flac", from_path.data)


def test_rejects_arrays_without_rate_and_text_files(tmp_path):
    with pytest.raises(ValueError):
        to_upload(_tone())
    (tmp_path / "x.txt").write_text("hi")
    with (tmp_path / "x.txt").open() as handle, pytest.raises(TypeError):
        to_upload(handle)
    with pytest.raises(TypeError):
        to_upload(42)
