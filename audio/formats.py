"""Which decoder a file needs, from its first bytes (never from a client-supplied name or content type)."""
from __future__ import annotations

SOUNDFILE_KINDS = ("wav", "flac", "ogg", "mp3", "other-sndfile")  # libsndfile
AV_KINDS = ("mp4", "aac")  # FFmpeg through PyAV
HEAD_BYTES = 16


def sniff(head: bytes) -> str | None:
    """Container family from magic bytes, or None when it is no audio format we know."""
    head = head[:HEAD_BYTES]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] in (b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS: sync word with layer bits 00
    if head[:4] in (b"FORM", b".snd", b"caff"):
        return "other-sndfile"  # AIFF, AU, CAF: libsndfile reads them too
    return None
