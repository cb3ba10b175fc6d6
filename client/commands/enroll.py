"""`vomid enroll`: registers many speakers from a folder tree or a CSV, concurrently, with a progress bar.

Each speaker's first file registers the voiceprint and the others enroll into it, so a speaker's files wait for
its registration while other speakers proceed; a semaphore bounds the uploads in flight. One failed file is
reported and the rest carry on.
"""
from __future__ import annotations

import asyncio
import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from tqdm import tqdm

from client.async_client import AsyncVoMIDClient
from client.errors import VoMIDError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm"}


class EnrollListError(ValueError):
    """The folder or CSV names no usable speakers (message says where)."""


@dataclass
class EnrollResult:
    user_ids: dict[str, str] = field(default_factory=dict)  # speaker -> user_id
    enrolled_files: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


def speakers_from_folder(root: Path) -> dict[str, list[Path]]:
    """One speaker per sub-folder (its name), with every audio file below it."""
    if not root.is_dir():
        raise EnrollListError(f"{root}: not a folder")
    speakers = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if files:
            speakers[folder.name] = files
    if not speakers:
        raise EnrollListError(f"{root}: no sub-folder holds audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return speakers


def speakers_from_csv(path: Path) -> dict[str, list[Path]]:
    """A CSV with `file` and `speaker` columns (a header row), files relative to the CSV's folder."""
    speakers: dict[str, list[Path]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file", "speaker"} <= set(reader.fieldnames):
            raise EnrollListError(f"{path}: needs a header with 'file' and 'speaker' columns")
        for line, row in enumerate(reader, start=2):
            if not row["file"] or not row["speaker"]:
                raise EnrollListError(f"{path}:{line}: empty file or speaker")
            speakers.setdefault(row["speaker"], []).append(path.parent / row["file"])
    if not speakers:
        raise EnrollListError(f"{path}: no rows")
    return speakers


async def enroll_speakers(client: AsyncVoMIDClient, speakers: dict[str, list[Path]], concurrency: int = 8,
                          metadata: dict[str, Any] | None = None, progress: bool = True) -> EnrollResult:
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    result = EnrollResult()
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=sum(map(len, speakers.values())), unit="file", desc="enrolling", disable=not progress)

    async def upload(send: Callable[[], Awaitable[Any]], path: Path) -> Any:
        async with semaphore:
            try:
                return await send()
            except (VoMIDError, OSError) as exc:
                result.failures.append((str(path), str(exc)))
                return None
            finally:
                bar.update()

    async def one_speaker(name: str, files: list[Path]) -> None:
        labels = {**(metadata or {}), "speaker": name}
        user_id, remaining = None, list(files)
        while user_id is None and remaining:  # register with the first file that works
            first = remaining.pop(0)
            user_id = await upload(lambda: client.register_voiceprint(name, first, labels), first)
        if user_id is None:
            return
        result.user_ids[name] = user_id
        added = await asyncio.gather(*(upload(lambda p=p: client.enroll_voiceprint(user_id, p), p)
                                       for p in remaining))
        result.enrolled_files += 1 + sum(a is not None for a in added)

    try:
        await asyncio.gather(*(one_speaker(name, files) for name, files in speakers.items()))
    finally:
        bar.close()
    return result
