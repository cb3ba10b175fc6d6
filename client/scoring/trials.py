"""Trial lists as VoxCeleb publishes them: `label enroll_path test_path` per line, label 1/0 or target/nontarget.

Relative paths are resolved against an audio root (by default the trial list's own folder).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from client.scoring.errors import TrialListError

_LABELS = {"1": True, "target": True, "tgt": True, "0": False, "nontarget": False, "non-target": False,
           "imp": False, "impostor": False}


@dataclass(frozen=True)
class Trial:
    target: bool
    enroll: Path
    test: Path


def parse_trials(trial_file: Path, audio_root: Path | None = None) -> list[Trial]:
    root = Path(audio_root) if audio_root else Path(trial_file).resolve().parent
    trials = []
    with Path(trial_file).open() as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 3:
                raise TrialListError(f"{trial_file}:{number}: expected `label enroll test`, got {line.strip()!r}")
            label = _LABELS.get(fields[0].lower())
            if label is None:
                raise TrialListError(f"{trial_file}:{number}: label must be 1/0 or target/nontarget, "
                                     f"got {fields[0]!r}")
            trials.append(Trial(label, root / fields[1], root / fields[2]))
    if not trials:
        raise TrialListError(f"{trial_file}: no trials")
    return trials


def write_trials(trial_file: Path, trials: list[Trial], audio_root: Path | None = None) -> None:
    """Writes `1|0 enroll test` lines, paths relative to `audio_root` when under it."""
    def show(path: Path) -> str:
        return str(path.relative_to(audio_root)) if audio_root and path.is_relative_to(audio_root) else str(path)

    Path(trial_file).write_text("".join(f"{int(t.target)} {show(t.enroll)} {show(t.test)}\n" for t in trials))
