"""Renders the shipped config files for the local cluster: only addresses and secret paths change.

The compose names in the shipped files (`triton-0.triton:8001`, `redis-0:6379`, `sentinel-0:26379`, the
`voimid` service, `/run/secrets/...`) are mapped to the local processes' addresses and files. A shipped file that no
longer contains what is mapped is an error here, so the local cluster cannot silently drift from the images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cluster.spec import REPO, ClusterState

ROUTER_CONFIG = REPO / "config" / "production.yaml"
NGINX_CONF = REPO / "compose" / "nginx" / "nginx.conf"
PROMETHEUS_YML = REPO / "compose" / "prometheus" / "prometheus.yml"
RULES_DIR = REPO / "compose" / "prometheus" / "rules"
SECRETS_PREFIX = "/run/secrets/"
NGINX_TARGET = "set $vomid_router voimid:8080;"
LOCAL_UPSTREAM = "vomid_local"


class RenderError(RuntimeError):
    """A shipped config file no longer has the shape the local cluster maps."""


def address_map(state: ClusterState) -> dict[str, str]:
    """compose address -> local address."""
    mapping = {}
    for name in state.names("triton"):
        mapping[f"{name}.triton:8001"] = state.address(name, "grpc")
        mapping[f"{name}:8001"] = state.address(name, "grpc")
        mapping[f"{name}:8002"] = state.address(name, "metrics")
    for name in state.names("redis"):
        mapping[f"{name}:6379"] = mapping[f"{name}.redis:6379"] = state.address(name, "redis")
    for name in state.names("sentinel"):
        mapping[f"{name}:26379"] = mapping[f"{name}.sentinel:26379"] = state.address(name, "sentinel")
    mapping["localhost:9090"] = state.address("prometheus", "web")
    return mapping


def router_config(state: ClusterState, router: str) -> str:
    raw = yaml.safe_load(ROUTER_CONFIG.read_text())
    mapping = address_map(state)
    raw["api"]["host"], raw["api"]["port"] = state.host(router), state.ports[router]["api"]
    redis = raw.get("redis", {})
    if "host" in redis and not redis.get("sentinels"):
        local = mapping.get(f"{redis['host']}:{redis.get('port', 6379)}")
        if local is None:
            raise RenderError(f"{ROUTER_CONFIG}: redis {redis['host']}:{redis.get('port')} is no compose service")
        redis["host"], redis["port"] = local.rsplit(":", 1)[0], int(local.rsplit(":", 1)[1])
    rendered = _map_strings(raw, mapping, state.spec.directory / "secrets")
    rendered["triton"]["instances"] = _instances(rendered["triton"]["instances"], state)
    return "# Rendered by cluster/render.py from config/production.yaml (addresses and secret paths only).\n" + \
        yaml.safe_dump(rendered, sort_keys=False)


def _instances(shipped: list, state: ClusterState) -> list:
    """One entry per local Triton, each with the settings (weight) of the shipped entry at its position."""
    local = set(address_map(state).values())
    urls = [i["url"] if isinstance(i, dict) else i for i in shipped[:len(state.names("triton"))]]
    if not shipped or any(url not in local for url in urls):
        raise RenderError(f"{ROUTER_CONFIG}: triton.instances must name the compose Triton services")
    entries = []
    for index, name in enumerate(state.names("triton")):
        template = shipped[min(index, len(shipped) - 1)]
        address = state.address(name, "grpc")
        entries.append({**template, "url": address} if isinstance(template, dict) else address)
    return entries


def nginx_conf(state: ClusterState) -> str:
    text = NGINX_CONF.read_text()
    _expect(text, NGINX_TARGET, NGINX_CONF)
    servers = "".join(f"    server {state.address(name, 'api')} max_fails=1 fail_timeout=2s;\n"
                      for name in state.names("router"))
    upstream = f"  upstream {LOCAL_UPSTREAM} {{\n{servers}    keepalive 32;\n  }}\n\n"
    text = text.replace(NGINX_TARGET, f"set $vomid_router {LOCAL_UPSTREAM};")
    _expect(text, "\n  server {\n", NGINX_CONF)
    text = text.replace("\n  server {\n", f"\n{upstream}  server {{\n", 1)
    text = text.replace("listen 8443 ", f"listen {state.address('nginx', 'https')} ")
    text = text.replace(SECRETS_PREFIX, str(state.spec.directory / "secrets") + "/")
    return "# Rendered by cluster/render.py from compose/nginx/nginx.conf (addresses and secret paths only).\n" + text


def prometheus_yml(state: ClusterState) -> str:
    raw = yaml.safe_load(PROMETHEUS_YML.read_text())
    mapping = address_map(state)
    spec = state.spec
    if spec.scrape_interval:
        raw["global"]["scrape_interval"] = spec.scrape_interval
    if spec.evaluation_interval:
        raw["global"]["evaluation_interval"] = spec.evaluation_interval
    raw["rule_files"] = [str(RULES_DIR / Path(pattern).name) for pattern in raw["rule_files"]]
    raw.pop("alerting", None)  # no Alertmanager locally: alerts are read from Prometheus's own API
    for job in raw["scrape_configs"]:
        if job.pop("dns_sd_configs", None) is not None:  # the scaled router service
            job["static_configs"] = [{"targets": [state.address(n, "api") for n in state.names("router")]}]
            continue
        for static in job["static_configs"]:
            missing = [t for t in static["targets"] if t not in mapping]
            if missing:
                raise RenderError(f"{PROMETHEUS_YML}: targets {missing} are not services of the local cluster")
            static["targets"] = [mapping[t] for t in static["targets"]]
    return "# Rendered by cluster/render.py from compose/prometheus/prometheus.yml (addresses only).\n" + \
        yaml.safe_dump(raw, sort_keys=False)


def redis_env(state: ClusterState, name: str) -> dict[str, str]:
    """What compose/redis/entrypoint.sh reads, for one local Redis node or Sentinel."""
    kind = state.kind(name)
    directory = state.spec.directory
    return {"REDIS_CONF_DIR": str(REPO / "compose" / "redis"), "REDIS_RUN_DIR": str(directory / "run" / name),
            "REDIS_DATA_DIR": str(directory / "data" / name),
            "REDIS_PASSWORD_FILE": str(directory / "secrets" / "redis_password"),
            "REDIS_PORT": str(state.ports[name][kind]), "REDIS_BIND": state.host(name),
            "REDIS_ANNOUNCE_HOST": state.host(name),
            "REDIS_INITIAL_MASTER": state.address("redis-0", "redis"),
            "REDIS_SENTINELS": " ".join(state.address(s, "sentinel") for s in state.names("sentinel"))}


def _map_strings(value: Any, mapping: dict[str, str], secrets: Path) -> Any:
    if isinstance(value, dict):
        return {k: _map_strings(v, mapping, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, mapping, secrets) for v in value]
    if isinstance(value, str):
        if value.startswith(SECRETS_PREFIX):
            return str(secrets / value[len(SECRETS_PREFIX):])
        return mapping.get(value, value)
    return value


def _expect(text: str, needle: str, path: Path) -> None:
    if needle not in text:
        raise RenderError(f"{path}: expected {needle!r}; the local cluster maps it")
