"""Fast unit tests of router.intake's typed form fields (no HTTP): text, numbers, integers and JSON objects at
their exact bounds, with the exact 400 each refusal gives, using the patterns the router and its OpenAPI document
share (router.limits). Part of the mutation check (scripts/mutation.sh); read_form itself is tested in
test_intake_fast.py."""
from __future__ import annotations

import pytest

from router import limits as lim
from router.errors import BadRequest
from router.intake import Form, json_depth, parse_integer

MAX_DEPTH = 16


def refused(call, message: str, code: str = "invalid_field") -> None:
    with pytest.raises(BadRequest) as err:
        call()
    assert (err.value.message, err.value.code, err.value.status) == (message, code, 400)


def name_field(form: Form, field: str, *, required: bool = False, max_length: int = 256):
    return form.text(field, pattern=lim.NAME, max_length=max_length, what="printable text", required=required)


def test_require_audio():
    refused(Form().require_audio, "the 'audio' file field is required", "missing_field")
    assert Form(audio=b"RIFF").require_audio() == b"RIFF"


def test_text_fields():
    form = Form(fields={"name": "  Ada Lovelace  ", "blank": "   ", "tab": "a\tb", "del": "a\x7fb", "nul": "a\x00",
                        "us": "a\x1fb", "empty": ""})
    assert name_field(form, "name") == "Ada Lovelace"   # stripped, inner space kept
    assert name_field(form, "absent") is None
    refused(lambda: name_field(form, "absent", required=True), "the 'absent' field is required", "missing_field")
    refused(lambda: name_field(form, "blank", required=True), "the 'blank' field is required", "missing_field")
    refused(lambda: name_field(form, "empty", required=True), "the 'empty' field is required", "missing_field")
    # A field that is sent must be valid, even an optional one: blank is not "absent".
    refused(lambda: name_field(form, "blank"), "'blank' must be printable text")
    for field in ("tab", "del", "nul", "us"):
        refused(lambda: name_field(form, field), f"'{field}' must be printable text")
    user = Form(fields={"ok": "alice@example.com", "bad": "alice smith"})
    assert user.text("ok", pattern=lim.USER_ID, max_length=128, what="a user id") == "alice@example.com"
    refused(lambda: user.text("bad", pattern=lim.USER_ID, max_length=128, what="a user id"), "'bad' must be a user id")


def test_text_length_bounds():
    assert name_field(Form(fields={"x": "a" * 256}), "x") == "a" * 256
    refused(lambda: name_field(Form(fields={"x": "a" * 257}), "x"), "'x' is longer than 256 characters")
    assert name_field(Form(fields={"x": "abc"}), "x", max_length=3) == "abc"
    refused(lambda: name_field(Form(fields={"x": "abcd"}), "x", max_length=3), "'x' is longer than 3 characters")


def test_number_fields():
    form = Form(fields={"t": "0.25", "low": "0", "high": "1", "under": "-0.001", "over": "1.001", "word": "high",
                        "nan": "nan", "inf": "inf", "exp": "5e-1", "spaced": " 0.25", "hex": "0x1", "plus": "+0.5"})
    assert form.number("t", low=0, high=1) == 0.25 and form.number("exp", low=0, high=1) == 0.5
    assert form.number("low", low=0, high=1) == 0.0 and form.number("high", low=0, high=1) == 1.0
    assert form.number("absent", low=0, high=1) is None
    for name in ("under", "over", "nan", "inf", "word", "spaced", "hex", "plus"):
        refused(lambda: form.number(name, low=0, high=1), f"'{name}' must be a number between 0 and 1")
    refused(lambda: form.number("t", low=0.5, high=2.5), "'t' must be a number between 0.5 and 2.5")


def test_integer_fields():
    form = Form(fields={"k": "7", "low": "1", "high": "100", "zero": "0", "big": "101", "frac": "1.5",
                        "under": "1_0", "space": " 7", "arabic": "\u0667", "padded": "0" * 19 + "7",
                        "long": "0" * 20 + "7"})
    assert form.integer("k", low=1, high=100) == 7
    assert form.integer("low", low=1, high=100) == 1 and form.integer("high", low=1, high=100) == 100
    assert form.integer("absent", low=1, high=100) is None
    assert form.integer("padded", low=1, high=100) == 7   # 20 characters
    for name in ("zero", "big", "frac", "under", "space", "arabic", "long"):
        refused(lambda: form.integer(name, low=1, high=100), f"'{name}' must be an integer between 1 and 100")
    refused(lambda: parse_integer("5", "limit", 10, 20, code="invalid_query"),
            "'limit' must be an integer between 10 and 20", "invalid_query")


def nested(depth: int) -> str:
    """A JSON object `depth` levels deep: {"a": {"a": ... {} }}."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_json_object_fields():
    assert Form(fields={"m": '{"team": "blue", "n": [1, 2]}'}).json_object("m", max_depth=MAX_DEPTH) == {"team": "blue", "n": [1, 2]}
    assert Form().json_object("m", max_depth=MAX_DEPTH) is None
    refused(lambda: Form(fields={"m": "{not json"}).json_object("m", max_depth=MAX_DEPTH), "'m' is not valid JSON")
    refused(lambda: Form(fields={"m": "[1, 2]"}).json_object("m", max_depth=MAX_DEPTH), "'m' must be a JSON object")
    refused(lambda: Form(fields={"m": "[" * 200_000 + "]" * 200_000}).json_object("m", max_depth=MAX_DEPTH), "'m' is not valid JSON")
    assert json_depth(Form(fields={"m": nested(MAX_DEPTH)}).json_object("m", max_depth=MAX_DEPTH)) == MAX_DEPTH
    refused(lambda: Form(fields={"m": nested(MAX_DEPTH + 1)}).json_object("m", max_depth=MAX_DEPTH),
            f"'m' is nested more than {MAX_DEPTH} levels deep")


def test_json_object_depth_follows_the_configured_limit():
    assert Form(fields={"m": nested(3)}).json_object("m", max_depth=3) == {"a": {"a": {}}}
    refused(lambda: Form(fields={"m": nested(3)}).json_object("m", max_depth=2), "'m' is nested more than 2 levels deep")
    refused(lambda: Form(fields={"m": '{"a": NaN}'}).json_object("m", max_depth=2), "'m' is not valid JSON")


def test_json_depth():
    assert json_depth({}) == 1 and json_depth([]) == 1 and json_depth(5) == 1
    assert json_depth({"a": 1, "b": "x"}) == 1
    assert json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth([[[]], {"x": {"y": [1]}}]) == 4
    assert json_depth({"a": {"b": {}}, "c": [[[[]]]]}) == 5
