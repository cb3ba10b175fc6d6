"""Auth through the router: 401 vs 403, both headers, scopes, public endpoints, explicitly disabled auth."""
from __future__ import annotations

import pytest

from tests.router.conftest import form

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def error_code(response) -> str:
    return (await response.json())["error"]["code"]


async def test_missing_and_unknown_keys_are_401(client):
    response = await client.get("/api/v1/voiceprints")
    assert response.status == 401 and await error_code(response) == "missing_api_key"
    response = await client.get("/api/v1/voiceprints", headers={"X-API-Key": "vmd_wrong"})
    assert response.status == 401 and await error_code(response) == "invalid_api_key"
    response = await client.get("/api/v1/voiceprints", headers={"Authorization": "Basic abc"})
    assert response.status == 401


async def test_verify_scope_cannot_administer(client, verify_key, wav):
    for method, path in (("GET", "/api/v1/voiceprints"), ("DELETE", "/api/v1/voiceprint/x"),
                         ("GET", "/api/v1/stats")):
        response = await client.request(method, path, headers={"X-API-Key": verify_key})
        assert response.status == 403 and await error_code(response) == "insufficient_scope", path
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="x"),
                                 headers={"Authorization": f"Bearer {verify_key}"})
    assert response.status == 403


async def test_bearer_and_header_keys_and_admin_implies_verify(client, admin_key, verify_key):
    for headers in ({"Authorization": f"Bearer {verify_key}"}, {"X-API-Key": verify_key},
                    {"Authorization": f"bearer {admin_key}"}):
        response = await client.get("/api/v1/voiceprint/nobody", headers=headers)
        assert response.status == 404, headers  # authenticated and allowed: the user just does not exist


async def test_public_endpoints_need_no_key(client):
    for path in ("/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
        assert (await client.get(path)).status == 200, path


async def test_auth_disabled_explicitly(make_client, router_settings, caplog):
    client = await make_client(router_settings(auth={"enabled": False, "keys_file": None}))
    assert "DISABLED" in caplog.text
    response = await client.get("/api/v1/voiceprints")
    assert response.status == 200
