"""Speaker lists for `vomid enroll`: sub-folders or a file,speaker CSV, with errors that say where."""
from __future__ import annotations

import pytest

from client.commands.enroll import EnrollListError, speakers_from_csv, speakers_from_folder


def test_one_speaker_per_sub_folder(tmp_path):
    for name in ("ann/a.wav", "ann/deep/b.flac", "bob/c.mp3", "bob/notes.txt", "empty/readme.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    speakers = speakers_from_folder(tmp_path)
    assert {k: [p.name for p in v] for k, v in speakers.items()} == {"ann": ["a.wav", "b.flac"], "bob": ["c.mp3"]}
    with pytest.raises(EnrollListError, match="no sub-folder"):
        speakers_from_folder(tmp_path / "empty")


def test_csv_rows_relative_to_the_csv(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("file,speaker,lang\na.wav,ann,en\nb.wav,bob,zh\nc.wav,ann,en\n")
    speakers = speakers_from_csv(listing)
    assert speakers == {"ann": [tmp_path / "a.wav", tmp_path / "c.wav"], "bob": [tmp_path / "b.wav"]}
    listing.write_text("path,who\na.wav,ann\n")
    with pytest.raises(EnrollListError, match="'file' and 'speaker'"):
        speakers_from_csv(listing)
    listing.write_text("file,speaker\na.wav,\n")
    with pytest.raises(EnrollListError, match="list.csv:2"):
        speakers_from_csv(listing)
