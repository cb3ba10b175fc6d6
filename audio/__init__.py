"""The project's one audio decoder: any accepted file -> 16 kHz mono float32, with bounded memory and CPU.

Used by the router (uploads), the scoring CLI (trial lists), the benchmarks and the labelling pipeline. It knows
nothing of HTTP: failures are `AudioError`s with a stable `code`, which the router maps to a status.
"""
from audio.decode import TARGET_RATE, AudioLimits, check, decode, stream
from audio.errors import AudioError
from audio.formats import sniff

__all__ = ["TARGET_RATE", "AudioLimits", "AudioError", "check", "decode", "stream", "sniff"]
