"""Errors of `vomid score`: each names the file or line it is about."""
from __future__ import annotations


class ScoringError(Exception):
    """Base of every error `vomid score` and `vomid calibrate` report to the user."""


class TrialListError(ScoringError):
    """A trial list line that cannot be read (message: `file:line: why`)."""


class AudioLoadError(ScoringError):
    """An audio file that cannot be decoded."""


class EmbeddingError(ScoringError):
    """Triton refused or failed one utterance, or the model cannot be used."""


class ReportError(ScoringError):
    """A report file that `calibrate` cannot use."""
