"""The OpenAPI document says what the router does: every error code its source can raise, the running config's
limits (and the router enforces those same limits), the methods a path takes, the fields an operation takes."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from audio.errors import CODES as AUDIO_CODES
from router.recordings import service as recordings_service
from router.recordings import spool
from router import errors, idempotency
from router.middlewares import FOREIGN_ERRORS
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROUTER = Path(__file__).resolve().parents[2] / "router"
# Codes of aiohttp's own errors (no route, wrong method), which the error middleware names after their reason.
FRAMEWORK = {(404, "not_found"), (405, "method_not_allowed")}
# Mapped in FOREIGN_ERRORS, but no API request can cause them: say why, so an unexplained gap still fails.
UNREACHABLE = {
    "user_exists": "the store raises it only for a caller-chosen id, and register never passes one",
    "invalid_request": "intake checks everything the store's own checks refuse (ids, names, metadata, pages) first",
}
API_ERRORS = {name: cls for module in (errors, idempotency, spool, recordings_service) for name, cls in vars(module).items()
              if isinstance(cls, type) and issubclass(cls, errors.ApiError)}


def raised_codes() -> set[tuple[int | None, str]]:
    """(status, code) of every error the router's source builds; status None where the call does not say."""
    found: set[tuple[int | None, str]] = set()
    for path in ROUTER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                cls = API_ERRORS.get(name)
                given = next((k.value for k in node.keywords if k.arg == "code"), None)
                if isinstance(given, ast.Constant):
                    found.add((cls.status if cls else None, given.value))
                elif given is None and cls is not None:
                    found.add((cls.status, cls.code))
                # a code passed on from a parameter is found at the calls that pass it
    for kind, status, code, _ in FOREIGN_ERRORS:
        found |= {(status, c) for c in AUDIO_CODES} if code is None else {(status, code)}
    return found


def documented(spec: dict) -> set[tuple[int, str]]:
    pairs = set()
    for item in spec["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                codes = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
                pairs |= {(int(status), code) for code in codes.get("enum", [])}
    return pairs


async def spec_of(client) -> dict:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    return await response.json()


async def test_the_document_is_valid_openapi_3_0(client):
    from jsonschema_rs import Draft4Validator
    from schemathesis.specs.openapi.definitions import OPENAPI_30

    spec = await spec_of(client)
    assert [error.message for error in Draft4Validator(OPENAPI_30).iter_errors(spec)] == []
    broken = {**spec, "paths": {"/x": {"get": {"responses": {"200": {"content": {}}}}}}}  # no description
    assert not Draft4Validator(OPENAPI_30).is_valid(broken)


async def test_every_error_the_source_raises_is_documented_and_nothing_else(client):
    spec_pairs = documented(await spec_of(client))
    raised = raised_codes()
    assert len(raised) >= 25, raised  # the scan found the router's errors
    missing = {(s, c) for s, c in raised if c not in UNREACHABLE
               and ((s, c) not in spec_pairs if s is not None else c not in {code for _, code in spec_pairs})}
    assert not missing, f"raised by the router but not in the OpenAPI document: {sorted(missing, key=str)}"
    known = {c for _, c in raised} | {c for _, c in FRAMEWORK}
    invented = {(s, c) for s, c in spec_pairs if c not in known or c in UNREACHABLE}
    assert not invented, f"documented but raised nowhere: {sorted(invented)}"
    assert set(UNREACHABLE) <= {c for _, c in raised}  # the exceptions still name real codes


async def test_the_document_follows_the_running_config_and_the_router_enforces_it(make_client, router_settings,
                                                                                  admin_key, wav):
    client = await make_client(router_settings(
        api={"max_upload_mb": 2, "min_seconds": 1.5, "max_seconds": 12, "max_name_chars": 40,
             "max_metadata_depth": 3, "max_field_kb": 8},
        verify={"threshold": 0.6, "min_threshold": 0.5, "max_top_k": 7, "default_top_k": 3, "score_decimals": 3}))
    spec = await spec_of(client)
    paths = spec["paths"]
    register = paths["/api/v1/voiceprint/register"]["post"]["requestBody"]
    fields = register["content"]["multipart/form-data"]["schema"]["properties"]
    assert fields["name"]["maxLength"] == 40 and "3 levels" in fields["metadata"]["description"]
    assert "1.5-12 s" in fields["audio"]["description"] and "2 MB" in fields["audio"]["description"]
    assert "8192 bytes" in register["description"]
    verify = paths["/api/v1/voiceprint/verify"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert (verify["properties"]["threshold"]["minimum"], verify["properties"]["threshold"]["default"]) == (0.5, 0.6)
    identify = paths["/api/v1/voiceprint/identify"]["post"]["requestBody"]["content"]["multipart/form-data"]
    top_k = identify["schema"]["properties"]["top_k"]
    assert (top_k["maximum"], top_k["default"]) == (7, 3)
    assert "3 decimals" in spec["components"]["schemas"]["Candidates"]["properties"]["candidates"]["description"]

    async def answer(path, **fields):
        response = await client.post(path, data=form(wav, **fields), headers=auth(admin_key))
        return response.status, (await response.json()).get("error", {}).get("code")

    deep = json.dumps({"a": {"b": {"c": 1}}})
    assert await answer("/api/v1/voiceprint/register", name="n" * 41) == (400, "invalid_field")
    assert await answer("/api/v1/voiceprint/register", name="n", metadata=json.dumps({"a": {"b": {"c": {}}}})) \
        == (400, "invalid_field")
    assert await answer("/api/v1/voiceprint/register", name="n", metadata="x" * 8193) == (413, "payload_too_large")
    assert await answer("/api/v1/voiceprint/identify", top_k=8) == (400, "invalid_field")
    assert await answer("/api/v1/voiceprint/verify", threshold=0.49) == (400, "invalid_field")
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="n" * 40, metadata=deep),
                                 headers=auth(admin_key))
    body = await response.json()
    assert response.status == 201 and body["metadata"] == json.loads(deep), body  # exactly at each limit: fine
    assert (await client.delete(f"/api/v1/voiceprint/{body['user_id']}", headers=auth(admin_key))).status == 200


async def test_words_of_other_operations_are_no_user_ids_and_allow_says_so(client, admin_key):
    for method in ("OPTIONS", "GET", "DELETE"):
        response = await client.request(method, "/api/v1/voiceprint/verify", headers=auth(admin_key))
        assert response.status == 405 and response.headers["Allow"] == "POST", method
        assert (await response.json())["error"]["code"] == "method_not_allowed"
    response = await client.request("OPTIONS", "/api/v1/voiceprint/someone", headers=auth(admin_key))
    assert response.status == 405 and set(response.headers["Allow"].split(",")) <= {"GET", "HEAD", "DELETE"}
    response = await client.get("/api/v1/voiceprint/verified", headers=auth(admin_key))  # only the exact words
    assert response.status == 404 and (await response.json())["error"]["code"] == "user_not_found"


@pytest.mark.parametrize("path,fields,code", [
    ("/api/v1/voiceprint/verify", {"user_id": ""}, "invalid_field"),  # was: silently a 1:N search
    ("/api/v1/voiceprint/verify", {"treshold": "0.9"}, "unknown_field"),  # was: silently the default threshold
    ("/api/v1/voiceprint/verify", {"threshold": " 0.9"}, "invalid_field"),
    ("/api/v1/voiceprint/verify", {"user_id": "bob\n"}, "invalid_field"),
    ("/api/v1/voiceprint/identify", {"top_k": "1_0"}, "invalid_field"),
    ("/api/v1/voiceprint/identify", {"top_k": "\u0663"}, "invalid_field"),  # an Arabic-Indic 3: int() takes it
    ("/api/v1/voiceprint/register", {"name": "alice\x7f"}, "invalid_field"),
    ("/api/v1/voiceprint/register", {"name": "x", "metadata": '{"a": NaN}'}, "invalid_field"),
])
async def test_what_the_document_calls_invalid_is_refused(client, admin_key, wav, path, fields, code):
    response = await client.post(path, data=form(wav, **fields), headers=auth(admin_key))
    body = await response.json()
    assert (response.status, body["error"]["code"]) == (400, code), body


@pytest.mark.parametrize("query", ["offset=", "offset=%205", "limit=1_0", "limit=+5"])
async def test_paging_takes_plain_integers_only(client, admin_key, query):
    response = await client.get(f"/api/v1/voiceprints?{query}", headers=auth(admin_key))
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_parameter"
    assert (await client.get("/api/v1/voiceprints?offset=0&limit=5", headers=auth(admin_key))).status == 200


async def test_a_full_user_is_a_conflict_not_bad_audio(make_client, router_settings, admin_key, wav):
    client = await make_client(router_settings(storage={"type": "memory", "max_enrollments": 1}))
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="full"), headers=auth(admin_key))
    user_id = (await response.json())["user_id"]
    response = await client.post(f"/api/v1/voiceprint/{user_id}/enroll", data=form(wav), headers=auth(admin_key))
    assert response.status == 409 and (await response.json())["error"]["code"] == "enrollment_limit"
