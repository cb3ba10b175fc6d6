"""Fast unit tests of router.intake's typed form fields (no HTTP): text, numbers, integers and JSON objects at
their exact bounds, with the exact 400 each refusal gives. Part of the mutation check (scripts/mutation.sh);
read_form itself is tested in test_intake_fast.py."""
from __future__ import annotations

import pytest

from router.errors import BadRequest
from router.intake import MAX_JSON_DEPTH, Form, json_depth


def refused(call, message: str, code: str = "invalid_field") -> None:
    with pytest.raises(BadRequest) as err:
        call()
    assert (err.value.message, err.value.code, err.value.status) == (message, code, 400)


def test_require_audio():
    refused(Form().require_audio, "the 'audio' file field is required", "missing_field")
    assert Form(audio=b"RIFF").require_audio() == b"RIFF"


def test_text_fields():
    form = Form(fields={"name": "  Ada Lovelace  ", "blank": " \t ", "tab": "a\tb", "del": "a\x7fb"})
    assert form.text("name") == "Ada Lovelace"   # stripped, inner space kept
    assert form.text("blank") is None and form.text("absent") is None
    assert form.text("del") == "a\x7fb"
    refused(lambda: form.text("absent", required=True), "the 'absent' field is required", "missing_field")
    refused(lambda: form.text("blank", required=True), "the 'blank' field is required", "missing_field")
    refused(lambda: form.text("tab"), "'tab' holds control characters")
    refused(lambda: Form(fields={"x": "a\x00"}).text("x"), "'x' holds control characters")
    refused(lambda: Form(fields={"x": "a\x1fb"}).text("x"), "'x' holds control characters")


def test_text_length_bounds():
    assert Form(fields={"x": "a" * 256}).text("x") == "a" * 256
    refused(lambda: Form(fields={"x": "a" * 257}).text("x"), "'x' is longer than 256 characters")
    assert Form(fields={"x": "abc"}).text("x", max_length=3) == "abc"
    refused(lambda: Form(fields={"x": "abcd"}).text("x", max_length=3), "'x' is longer than 3 characters")


def test_number_fields():
    form = Form(fields={"t": " 0.25 ", "low": "0", "high": "1", "under": "-0.001", "over": "1.001", "word": "high",
                        "nan": "nan", "inf": "inf", "long": "0." + "0" * 29 + "1", "longer": "0." + "0" * 30 + "1"})
    assert form.number("t", low=0, high=1) == 0.25
    assert form.number("low", low=0, high=1) == 0.0 and form.number("high", low=0, high=1) == 1.0
    assert form.number("absent", low=0, high=1) is None
    assert form.number("long", low=0, high=1) == 1e-30   # 32 characters
    refused(lambda: form.number("longer", low=0, high=1), "'longer' is longer than 32 characters")
    refused(lambda: form.number("word", low=0, high=1), "'word' must be a number")
    for name in ("under", "over", "nan", "inf"):
        refused(lambda: form.number(name, low=0, high=1), f"'{name}' must be between 0 and 1")
    refused(lambda: form.number("t", low=0.5, high=2.5), "'t' must be between 0.5 and 2.5")


def test_integer_fields():
    form = Form(fields={"k": "7", "low": "1", "high": "100", "zero": "0", "big": "101", "frac": "1.5",
                        "long": "0" * 15 + "7", "longer": "0" * 16 + "7"})
    assert form.integer("k", low=1, high=100) == 7
    assert form.integer("low", low=1, high=100) == 1 and form.integer("high", low=1, high=100) == 100
    assert form.integer("absent", low=1, high=100) is None
    assert form.integer("long", low=1, high=100) == 7   # 16 characters
    refused(lambda: form.integer("longer", low=1, high=100), "'longer' is longer than 16 characters")
    refused(lambda: form.integer("frac", low=1, high=100), "'frac' must be an integer")
    refused(lambda: form.integer("zero", low=1, high=100), "'zero' must be between 1 and 100")
    refused(lambda: form.integer("big", low=1, high=100), "'big' must be between 1 and 100")


def nested(depth: int) -> str:
    """A JSON object `depth` levels deep: {"a": {"a": ... {} }}."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_json_object_fields():
    assert Form(fields={"m": '{"team": "blue", "n": [1, 2]}'}).json_object("m") == {"team": "blue", "n": [1, 2]}
    assert Form().json_object("m") is None
    refused(lambda: Form(fields={"m": "{not json"}).json_object("m"), "'m' is not valid JSON")
    refused(lambda: Form(fields={"m": "[1, 2]"}).json_object("m"), "'m' must be a JSON object")
    refused(lambda: Form(fields={"m": "[" * 200_000 + "]" * 200_000}).json_object("m"), "'m' is not valid JSON")
    assert json_depth(Form(fields={"m": nested(MAX_JSON_DEPTH)}).json_object("m")) == MAX_JSON_DEPTH
    refused(lambda: Form(fields={"m": nested(MAX_JSON_DEPTH + 1)}).json_object("m"),
            f"'m' is nested more than {MAX_JSON_DEPTH} levels deep")


def test_json_object_length_bound():
    exact = '{"a": "' + "x" * ((1 << 20) - 9) + '"}'
    assert len(exact) == 1 << 20 and Form(fields={"m": exact}).json_object("m") == {"a": "x" * ((1 << 20) - 9)}
    refused(lambda: Form(fields={"m": exact[:-2] + 'x"}'}).json_object("m"),
            f"'m' is longer than {1 << 20} characters")


def test_json_depth():
    assert json_depth({}) == 1 and json_depth([]) == 1 and json_depth(5) == 1
    assert json_depth({"a": 1, "b": "x"}) == 1
    assert json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth([[[]], {"x": {"y": [1]}}]) == 4
    assert json_depth({"a": {"b": {}}, "c": [[[[]]]]}) == 5
