"""One health probe per kind of service: (healthy, what it said). Probes never raise; they report."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import redis

from cluster import secrets
from cluster.spec import ClusterState

TIMEOUT_S = 2.0


def probe(state: ClusterState, name: str) -> tuple[bool, str]:
    kind = state.kind(name)
    try:
        return PROBES[kind](state, name)
    except (OSError, redis.RedisError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:160]


def _router(state: ClusterState, name: str) -> tuple[bool, str]:
    status, body = http_get(f"http://{state.address(name, 'api')}/health/ready")
    detail = body.get("status", "?") if isinstance(body, dict) else "?"
    return status == 200, f"/health/ready {status} {detail}"


def _triton(state: ClusterState, name: str) -> tuple[bool, str]:
    status, _ = http_get(f"http://{state.address(name, 'http')}/v2/health/ready")
    return status == 200, f"/v2/health/ready {status}"


def _redis(state: ClusterState, name: str) -> tuple[bool, str]:
    client = redis_client(state, name)
    try:
        info = client.info("replication")
    finally:
        client.close()
    if info["role"] == "master":
        return True, f"master, {info.get('connected_slaves', 0)} replica(s)"
    link = info.get("master_link_status")
    return link == "up", f"replica of {info.get('master_host')}:{info.get('master_port')} (link {link})"


def _sentinel(state: ClusterState, name: str) -> tuple[bool, str]:
    client = redis_client(state, name)
    try:
        master = client.execute_command("SENTINEL", "get-master-addr-by-name", "vomid")
        sentinels = client.execute_command("SENTINEL", "sentinels", "vomid")
    finally:
        client.close()
    if not master:
        return False, "knows no master"
    host, port = (m.decode() if isinstance(m, bytes) else m for m in master)
    return True, f"master {host}:{port}, {len(sentinels) + 1} sentinels"


def sentinel_master(state: ClusterState, sentinel: str) -> str | None:
    """host:port of the master one Sentinel names now; None when it cannot be asked or knows none."""
    client = redis_client(state, sentinel)
    try:
        master = client.execute_command("SENTINEL", "get-master-addr-by-name", "vomid")
    except (OSError, redis.RedisError):
        return None
    finally:
        client.close()
    return ":".join(m.decode() if isinstance(m, bytes) else str(m) for m in master) if master else None


def _nginx(state: ClusterState, name: str) -> tuple[bool, str]:
    status, _ = http_get(f"https://{state.address(name, 'https')}/health/live",
                         cafile=state.spec.directory / "secrets" / "tls_cert")
    return status == 200, f"https /health/live {status} (through a router)"


def _prometheus(state: ClusterState, name: str) -> tuple[bool, str]:
    status, _ = http_get(f"http://{state.address(name, 'web')}/-/ready")
    return status == 200, f"/-/ready {status}"


PROBES = {"router": _router, "triton": _triton, "redis": _redis, "sentinel": _sentinel, "nginx": _nginx,
          "prometheus": _prometheus}


def redis_client(state: ClusterState, name: str) -> redis.Redis:
    host, port = state.address(name, state.kind(name)).rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), password=secrets.redis_password(state.spec.directory / "secrets"),
                       socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def http_get(url: str, cafile: Path | None = None, headers: dict | None = None) -> tuple[int, object]:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")
