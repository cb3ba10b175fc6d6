"""Fast unit tests of router.intake's read_form (milliseconds) behind a tiny real aiohttp server on loopback (no
Triton, no router): byte caps at their exact bounds, before reading (Content-Length) and while reading (chunked),
and every malformed shape answered with its 4xx. The typed fields are in test_intake_fields_fast.py. Part of the
mutation check (scripts/mutation.sh); the router-level tests are test_malformed.py and test_observability.py.
"""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import ClientSession, MultipartWriter, web
from aiohttp.test_utils import TestServer

from router.errors import ApiError
from router.intake import FRAMING_ALLOWANCE, read_form

session_loop = pytest.mark.asyncio(loop_scope="session")
MAX_AUDIO = 2 * 1024 * 1024
MAX_FIELD = 1024
LIMIT = MAX_AUDIO + FRAMING_ALLOWANCE
MAX_FIELD_KEY = web.AppKey("max_field", int)
ACCEPTED = frozenset({"name", "metadata", "pad"})


async def form_handler(request: web.Request) -> web.Response:
    try:
        form = await read_form(request, MAX_AUDIO, request.app[MAX_FIELD_KEY], ACCEPTED)
    except ApiError as exc:
        return web.json_response({"code": exc.code, "message": exc.message}, status=exc.status)
    return web.json_response({"fields": form.fields, "audio": None if form.audio is None else len(form.audio),
                              "audio_head": None if form.audio is None else form.audio[:4].decode("latin-1"),
                              "filename": form.filename})


@pytest.fixture
async def server_factory():
    servers = []

    async def start(max_field: int = MAX_FIELD) -> TestServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app[MAX_FIELD_KEY] = max_field
        app.router.add_post("/form", form_handler)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def server(server_factory):
    return await server_factory()


def multipart(*parts: tuple[str | None, bytes | str, str | None]) -> MultipartWriter:
    """(name, value, filename) parts; a None name leaves the part without one."""
    writer = MultipartWriter("form-data", boundary="BOUNDARY")
    for name, value, filename in parts:
        part = writer.append(value)
        if name is not None:
            part.set_content_disposition("form-data", name=name, **({"filename": filename} if filename else {}))
    return writer


async def post(server: TestServer, body, headers: dict | None = None) -> tuple[int, dict]:
    async with ClientSession() as session:
        async with session.post(server.make_url("/form"), data=body, headers=headers) as response:
            return response.status, await response.json()


async def serialise(writer: MultipartWriter) -> bytes:
    class Sink:
        data = b""

        async def write(self, chunk):
            Sink.data += bytes(chunk)

    await writer.write(Sink())
    return Sink.data


@session_loop
async def test_a_form_is_read_with_its_fields_and_audio(server):
    status, body = await post(server, multipart(("name", "Ada", None), ("metadata", '{"a": 1}', None),
                                                ("audio", b"RIFFdata", "clip.wav")))
    assert status == 200
    assert body == {"fields": {"name": "Ada", "metadata": '{"a": 1}'}, "audio": 8, "audio_head": "RIFF",
                    "filename": "clip.wav"}
    status, body = await post(server, multipart(("name", "Ada", None)))
    assert (status, body["audio"], body["filename"]) == (200, None, None)


@session_loop
async def test_other_media_types_are_refused(server):
    for data, headers in ((json.dumps({"name": "x"}), {"Content-Type": "application/json"}), (b"raw", None)):
        status, body = await post(server, data, headers)
        assert (status, body) == (415, {"code": "unsupported_media_type",
                                        "message": "send multipart/form-data with an 'audio' file field"})


async def sized_body(size: int) -> bytes:
    """A valid form whose body is exactly `size` bytes: a small audio part and a padding field."""
    audio = ("audio", b"RIFF" + b"\0" * 1020, "a.wav")
    base = await serialise(multipart(audio, ("pad", "", None)))
    return await serialise(multipart(audio, ("pad", "p" * (size - len(base)), None)))


@session_loop
async def test_a_body_of_exactly_the_limit_is_read_one_byte_more_is_refused_from_its_length(server_factory):
    server = await server_factory(max_field=LIMIT)   # only the body limit can refuse these
    headers = {"Content-Type": "multipart/form-data; boundary=BOUNDARY"}
    exact = await sized_body(LIMIT)
    assert len(exact) == LIMIT
    status, body = await post(server, exact, headers)
    assert status == 200 and body["audio"] == 1024
    over = await sized_body(LIMIT + 1)
    status, body = await post(server, over, headers)
    assert (status, body) == (413, {"code": "payload_too_large", "message": "request body over 2 MB"})


async def chunked(data: bytes):
    for i in range(0, len(data), 256 * 1024):
        yield data[i:i + 256 * 1024]


@session_loop
async def test_audio_cap_while_streaming(server):
    headers = {"Content-Type": "multipart/form-data; boundary=BOUNDARY"}
    exact = await serialise(multipart(("audio", b"a" * MAX_AUDIO, "a.wav")))
    status, body = await post(server, chunked(exact), headers)   # chunked: no Content-Length to judge by
    assert status == 200 and body["audio"] == MAX_AUDIO
    over = await serialise(multipart(("audio", b"a" * (MAX_AUDIO + 1), "a.wav")))
    status, body = await post(server, chunked(over), headers)
    assert (status, body) == (413, {"code": "payload_too_large", "message": "audio over 2 MB"})


@session_loop
async def test_field_cap_while_streaming(server):
    status, body = await post(server, multipart(("name", "n" * MAX_FIELD, None)))
    assert status == 200 and body["fields"] == {"name": "n" * MAX_FIELD}
    status, body = await post(server, multipart(("name", "n" * (MAX_FIELD + 1), None)))
    assert (status, body) == (413, {"code": "payload_too_large", "message": "field 'name' over 1024 bytes"})


@session_loop
async def test_a_field_the_operation_does_not_take_is_refused_unread(server):
    """An unknown name is a typo or an attack: refused with the names that are taken, before its body is read."""
    message = "unknown form field 'treshold' (this operation takes audio, metadata, name, pad)"
    for value in ("0.5", "t" * (MAX_FIELD + 1)):   # the oversize one would be a 413 if it were read
        status, body = await post(server, multipart(("name", "Ada", None), ("treshold", value, None)))
        assert (status, body) == (400, {"code": "unknown_field", "message": message})
    status, body = await post(server, multipart(("x" * 100, "v", None)))
    assert status == 400 and body["code"] == "unknown_field"
    assert body["message"].startswith("unknown form field '" + "x" * 64 + "' (")   # the echoed name is cut
    # Every accepted name at most once: the parts a request can carry are bounded by the operation.
    status, body = await post(server, multipart(("name", "a", None), ("metadata", "{}", None), ("pad", "", None),
                                                ("audio", b"RIFF", "a.wav")))
    assert status == 200 and len(body["fields"]) == 3 and body["audio"] == 4


@pytest.mark.parametrize("parts, message", [
    ((("name", "a", None), ("name", "b", None)), "the 'name' field is given twice"),
    ((("audio", b"a", "a.wav"), ("audio", b"b", "b.wav")), "the 'audio' field is given twice"),
])
@session_loop
async def test_malformed_parts(server, parts, message):
    status, body = await post(server, multipart(*parts))
    assert (status, body) == (400, {"code": "malformed_body", "message": message})


@pytest.mark.parametrize("disposition", [b"form-data", b'form-data; name=""'])
@session_loop
async def test_a_part_without_a_name(server, disposition):
    raw = b"--B\r\nContent-Disposition: " + disposition + b"\r\n\r\nx\r\n--B--\r\n"
    status, body = await post(server, raw, {"Content-Type": "multipart/form-data; boundary=B"})
    assert (status, body) == (400, {"code": "malformed_body", "message": "a form part has no name"})


@session_loop
async def test_nested_multipart_is_refused(server):
    outer = MultipartWriter("form-data", boundary="OUTER")
    outer.append(MultipartWriter("mixed", boundary="INNER"))
    status, body = await post(server, outer)
    assert (status, body) == (400, {"code": "malformed_body", "message": "nested multipart is not accepted"})


@session_loop
async def test_broken_framing_is_a_400(server):
    headers = {"Content-Type": "multipart/form-data; boundary=BOUNDARY"}
    status, body = await post(server, b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx", headers)
    assert (status, body) == (400, {"code": "malformed_body", "message": "malformed multipart body: Reading after EOF"})
    long_header = b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"name\"\r\nBad Header " + b"x" * 300 + \
        b"\r\n\r\nx\r\n--BOUNDARY--\r\n"
    status, body = await post(server, long_header, headers)
    prefix = "malformed multipart body: "
    assert status == 400 and body["code"] == "malformed_body" and body["message"].startswith(prefix)
    detail = body["message"][len(prefix):]
    assert len(detail) == 120 and "Invalid HTTP header" in detail   # the parser's words, cut to 120 characters


@session_loop
async def test_a_field_that_is_not_utf8(server):
    status, body = await post(server, multipart(("name", b"\xff\xfe", None)))
    assert (status, body) == (400, {"code": "invalid_field", "message": "field 'name' is not UTF-8 text"})


@session_loop
async def test_a_declared_oversize_is_refused_before_any_body_is_sent(server):
    """Only the headers go out: the 413 must come from Content-Length alone (kept last: a broken check waits)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(f"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     f"Content-Length: {LIMIT + 1}\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
