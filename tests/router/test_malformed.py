"""A generated corpus of 200+ malformed requests: each must get a 4xx JSON error, and /health stays ready."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import av
import numpy as np
import pytest
import soundfile as sf

from tests.audio.files import encode, resample

pytestmark = pytest.mark.asyncio(loop_scope="session")

BOUNDARY = "vomidtestboundary"
ENDPOINTS = ("/api/v1/voiceprint/register", "/api/v1/voiceprint/verify", "/api/v1/voiceprint/identify")


@dataclass
class Case:
    label: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    method: str = "POST"
    chunked: bool = False


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = BOUNDARY) -> bytes:
    """Hand-built multipart so the corpus can also be wrong in ways a client library would refuse."""
    out = io.BytesIO()
    for name, value, filename in parts:
        out.write(f"--{boundary}\r\n".encode())
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.write(f"Content-Disposition: {disposition}\r\n\r\n".encode())
        out.write(value + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def mp_case(label, path, parts, headers_extra: dict | None = None, **kwargs) -> Case:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers_extra or {})}
    return Case(label, path, multipart(parts), headers, **kwargs)


def wav(samples: np.ndarray, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype=subtype)
    return buffer.getvalue()


def surround_m4a(clip: np.ndarray) -> bytes:
    """Real speech in every channel of a 7.1 AAC file (valid: accepted, and must not crash the decoder)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48000, layout="7.1")
        audio = np.repeat(resample(clip[: 3 * 16000], 48000)[:, None], 8, axis=1)
        for n in range(audio.shape[0] // 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[n * 1024:(n + 1) * 1024]).reshape(1, -1),
                                               format="flt", layout="7.1")
            frame.sample_rate, frame.pts = 48000, n * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def bad_audio(clip: np.ndarray) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(1)
    items = [("empty", b""), ("text", b"just some text, not audio\n" * 20),
             ("png", b"\x89PNG\r\n\x1a\n" + bytes(300)), ("zeros", bytes(5000)),
             ("silent-wav", wav(np.zeros(48000, dtype=np.float32))),
             ("short-wav", wav(clip[:4000])), ("long-wav", wav(np.tile(clip, 8)[: 16000 * 40])),
             ("nan-wav", wav(np.full(32000, np.nan, dtype=np.float32), "FLOAT")),
             ("json", b'{"audio": "base64..."}'), ("html", b"<html><body>hi</body></html>")]
    items += [(f"random-{n}", rng.integers(0, 256, n, dtype=np.uint8).tobytes()) for n in (1, 7, 100, 4096, 65536)]
    for magic in (b"RIFF\xff\xff\xff\xffWAVE", b"fLaC", b"OggS", b"ID3\x04\x00", b"\x00\x00\x00\x18ftypM4A ",
                  b"\xff\xf1\x50\x80"):
        items.append((f"magic-{magic[:4]!r}", magic + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()))
    for fmt in ("wav16", "flac", "mp3", "ogg", "opus", "m4a"):
        data = encode(clip, fmt)
        items += [(f"{fmt}-cut{cut}", data[:cut]) for cut in (3, 16, 44, 300)]
        if fmt in ("wav16", "flac"):  # header intact, samples garbled: decodes only to noise of the right length
            items.append((f"{fmt}-header-garbled", data[:20] + bytes(20) + data[40:300]))
    return items


def corpus(clip: np.ndarray, good: bytes) -> list[Case]:
    cases: list[Case] = []
    for label, audio in bad_audio(clip):
        cases.append(mp_case(f"verify/{label}", ENDPOINTS[1], [("audio", audio, "a.wav")]))
        cases.append(mp_case(f"register/{label}", ENDPOINTS[0], [("name", b"x", None), ("audio", audio, "a.wav")]))
        cases.append(mp_case(f"identify/{label}", ENDPOINTS[2], [("audio", audio, "a.wav")]))
    for path in ENDPOINTS + ("/api/v1/voiceprint/someone/enroll",):
        cases += [
            Case(f"{path}/json-body", path, b'{"audio": ""}', {"Content-Type": "application/json"}),
            Case(f"{path}/text-body", path, b"hello", {"Content-Type": "text/plain"}),
            Case(f"{path}/urlencoded", path, b"name=x&audio=y", {"Content-Type": "application/x-www-form-urlencoded"}),
            Case(f"{path}/no-body", path, None, {}),
            Case(f"{path}/no-boundary", path, multipart([("audio", good, "a.wav")]),
                 {"Content-Type": "multipart/form-data"}),
            Case(f"{path}/wrong-boundary", path, multipart([("audio", good, "a.wav")], "other"),
                 {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}),
            Case(f"{path}/garbage-multipart", path, b"--" + BOUNDARY.encode() + b"\r\n\x00\x01garbage",
                 {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}),
            mp_case(f"{path}/missing-audio", path, [("name", b"bob", None)]),
            mp_case(f"{path}/audio-twice", path, [("audio", good, "a.wav"), ("audio", good, "b.wav")]),
            mp_case(f"{path}/too-many-parts", path, [(f"f{i}", b"1", None) for i in range(40)]),
            mp_case(f"{path}/nameless-part", path, [("", good, "a.wav")]),
            mp_case(f"{path}/huge-field", path, [("name", b"n" * 200_000, None), ("audio", good, "a.wav")]),
            Case(f"{path}/oversized-declared", path, multipart([("audio", bytes(11 * 1024 * 1024), "a.wav")]),
                 {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}),
            Case(f"{path}/oversized-chunked", path, multipart([("audio", bytes(11 * 1024 * 1024), "a.wav")]),
                 {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, chunked=True),
        ]
    register = ENDPOINTS[0]
    for label, key in (("empty", ""), ("long", "k" * 300), ("space", "a b"), ("non-ascii", "clé")):
        cases.append(mp_case(f"register/idempotency-key-{label}", register, [("name", b"x", None),
                                                                           ("audio", good, "a.wav")],
                             headers_extra={"Idempotency-Key": key}))
    for label, name in (("missing", None), ("empty", b""), ("blank", b"   "), ("long", b"n" * 500),
                        ("control", b"bad\x01name"), ("not-utf8", b"\xff\xfe\xfd")):
        parts = [("audio", good, "a.wav")] + ([("name", name, None)] if name is not None else [])
        cases.append(mp_case(f"register/name-{label}", register, parts))
    nested = b'{"a": ' * 900 + b"1" + b"}" * 900  # valid JSON, too deep to be metadata
    for label, meta in (("text", b"not json"), ("array", b"[1, 2]"), ("number", b"42"), ("string", b'"s"'),
                        ("truncated", b'{"a": '), ("deep", b"[" * 50_000), ("null", b"null"), ("true", b"true"),
                        ("nested-900", nested), ("nested-17", b'{"a": ' * 17 + b"1" + b"}" * 17)):
        cases.append(mp_case(f"register/metadata-{label}", register,
                             [("name", b"x", None), ("metadata", meta, None), ("audio", good, "a.wav")]))
    for value in (b"-0.1", b"1.5", b"abc", b"nan", b"inf", b"-inf", b"1e309", b"0x1", b"1,5", b"  ", b"9" * 40,
                  b"0", b"0.1"):  # the last two: below the server's threshold floor
        if value.strip():
            cases.append(mp_case(f"verify/threshold-{value[:8]!r}", ENDPOINTS[1],
                                 [("threshold", value, None), ("audio", good, "a.wav")]))
    for value in (b"0", b"101", b"-1", b"x", b"1.5", b"1e3", b"99999999999999999999"):
        cases.append(mp_case(f"identify/top_k-{value[:8]!r}", ENDPOINTS[2],
                             [("top_k", value, None), ("audio", good, "a.wav")]))
    for user in (b"u" * 300, b"no-such-user"):
        cases.append(mp_case(f"verify/user_id-{len(user)}", ENDPOINTS[1],
                             [("user_id", user, None), ("audio", good, "a.wav")]))
    cases += [
        Case("get/unknown-user", "/api/v1/voiceprint/no-such-user", method="GET"),
        Case("get/long-user", "/api/v1/voiceprint/" + "u" * 300, method="GET"),
        Case("delete/unknown-user", "/api/v1/voiceprint/no-such-user", method="DELETE"),
        Case("enroll/unknown-user", "/api/v1/voiceprint/no-such-user/enroll",
             multipart([("audio", good, "a.wav")]), {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}),
        Case("post/user", "/api/v1/voiceprint/someone", b"", method="POST"),
        Case("put/register", ENDPOINTS[0], b"", method="PUT"),
        Case("get/nowhere", "/api/v1/nothing-here", method="GET"),
    ]
    for query in ("offset=-1", "limit=0", "limit=100000", "offset=x", "limit=1.5", "offset=1e3"):
        cases.append(Case(f"list/{query}", f"/api/v1/voiceprints?{query}", method="GET"))
    return cases


async def send(client, case: Case, key: str):
    headers = {"X-API-Key": key, **case.headers}
    body = case.body
    if case.chunked and body is not None:
        async def stream(data=body):
            for start in range(0, len(data), 256 * 1024):
                yield data[start:start + 256 * 1024]
        body = stream()
    return await client.request(case.method, case.path, data=body, headers=headers)


async def test_malformed_corpus_gets_4xx_json(client, admin_key, a_clip):
    cases = corpus(a_clip, encode(a_clip, "wav16"))
    assert len(cases) >= 200, len(cases)
    failures = []
    for case in cases:
        response = await send(client, case, admin_key)
        try:
            body = await response.json()
        except Exception as exc:  # noqa: BLE001 - any non-JSON answer is a failure to report
            failures.append(f"{case.label}: {response.status} not JSON ({exc})")
            continue
        error = body.get("error") if isinstance(body, dict) else None
        if not 400 <= response.status < 500 or not isinstance(error, dict) or not error.get("code"):
            failures.append(f"{case.label}: {response.status} {str(body)[:200]}")
    assert not failures, f"{len(failures)}/{len(cases)} malformed requests mishandled:\n" + "\n".join(failures)
    response = await client.get("/health")
    assert response.status == 200 and (await response.json())["ready"] is True


async def test_surround_aac_is_decoded_not_a_crash(client, verify_key, a_clip):
    """8 planar channels crashed PyAV 18's to_ndarray (a segfault: the whole router would die)."""
    from tests.router.conftest import form

    response = await client.post("/api/v1/voiceprint/verify", data=form(surround_m4a(a_clip), "a.m4a"),
                                 headers={"X-API-Key": verify_key})
    body = await response.json()
    assert response.status == 200 and body["mode"] == "1:N", body
