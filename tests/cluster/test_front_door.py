"""Through nginx (TLS, HTTP/2): a registration on one router is answered by another; errors stay clean."""
from __future__ import annotations

import socket
import ssl
import time

DEADLINE_S = 30.0  # stream propagation between routers is sub-second; the bound only stops a hung test


def served_elsewhere(front, first: str, method: str, path: str, audio: bytes, **fields):
    """Repeats a call until a router other than `first` served it (nginx alternates), returns that response."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response, request_id = front.request(method, path, audio, **fields)
        upstream = front.upstream(request_id)
        assert response.status_code < 500, response.text
        if upstream != first and response.status_code == 200:
            return response, upstream
        assert time.monotonic() < deadline, f"no other router answered {path} with 200 (last {response.text})"


def test_register_on_one_router_verify_and_identify_on_another(front, clips):
    response, request_id = front.request("POST", "/api/v1/voiceprint/register", clips[0], name="cross-router")
    assert response.status_code == 201, response.text
    user_id, registered_on = response.json()["user_id"], front.upstream(request_id)

    verify, verified_on = served_elsewhere(front, registered_on, "POST", "/api/v1/voiceprint/verify", clips[0],
                                           user_id=user_id)
    assert verify.json()["verified"] is True and verify.json()["user_id"] == user_id
    identify, identified_on = served_elsewhere(front, registered_on, "POST", "/api/v1/voiceprint/identify",
                                               clips[0], top_k="3")
    exact = [c["user_id"] for c in identify.json()["candidates"] if c["score"] >= 0.999]  # the very same clip
    assert user_id in exact
    assert front.router_at(verified_on) != front.router_at(registered_on)
    assert front.router_at(identified_on) != front.router_at(registered_on)


def test_errors_through_the_front_door(front, clips):
    unknown, _ = front.request("POST", "/api/v1/voiceprint/verify", clips[1], user_id="0" * 32)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"]
    no_key, _ = front.request("POST", "/api/v1/voiceprint/verify", clips[1], key="")
    assert no_key.status_code == 401
    hidden, _ = front.request("GET", "/metrics")
    assert hidden.status_code == 404 and "vomid_http_requests_total" not in hidden.text


def test_tls_offers_http2(local_cluster):
    host, port = local_cluster.state.address("nginx", "https").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(local_cluster.cafile))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    untrusted = ssl.create_default_context()  # the system CAs: the cluster's self-signed certificate is not one
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            untrusted.wrap_socket(raw, server_hostname="localhost")
            raise AssertionError("an untrusted certificate was accepted")
        except ssl.SSLCertVerificationError:
            pass
