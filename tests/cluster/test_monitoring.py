"""Prometheus on the local cluster: every target up, every Grafana panel has data, alerts fire and clear."""
from __future__ import annotations

import math
import time
import urllib.parse

import yaml

from cluster import health
from cluster.render import RULES_DIR
from tests.compose import facts

RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval is at a 1 s scrape interval, with margin
DEADLINE_S = 60.0


def query(cluster, expr: str) -> list[dict]:
    status, body = health.http_get(f"{cluster.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def has_data(result: list[dict]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def traffic(front, clips) -> None:
    user_id = front.register(clips[3], "monitoring")
    for call, fields in (("verify", {"user_id": user_id}), ("verify", {}), ("identify", {"top_k": "3"})):
        for _ in range(3):  # both routers serve some
            response, _ = front.request("POST", f"/api/v1/voiceprint/{call}", clips[3], **fields)
            assert response.status_code == 200, response.text
    assert front.request("POST", "/api/v1/voiceprint/verify", clips[3], key="")[0].status_code == 401


def test_every_target_is_up(local_cluster):
    state = local_cluster.state
    expected = {"vomid-router": len(state.names("router")), "triton": len(state.names("triton")), "prometheus": 1}
    deadline = time.monotonic() + DEADLINE_S
    while True:  # the first scrapes after start
        status, body = health.http_get(f"{local_cluster.prometheus_url}/api/v1/targets")
        targets = body["data"]["activeTargets"]
        up = {job: sum(1 for t in targets if t["labels"]["job"] == job and t["health"] == "up") for job in expected}
        if up == expected and len(targets) == sum(expected.values()):
            break
        down = [(t["labels"]["instance"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
        assert time.monotonic() < deadline, f"targets up {up}, expected {expected}; not up: {down}"
        time.sleep(0.5)


def test_every_grafana_panel_has_data_after_some_traffic(local_cluster, front, clips):
    traffic(front, clips)
    panels = [(path.name, panel) for path, dashboard in facts.dashboards().items() for panel in dashboard["panels"]]
    assert len(panels) >= 15
    deadline = time.monotonic() + DEADLINE_S
    empty = panels
    while empty:  # the next scrapes bring the traffic in
        empty = [(name, panel) for name, panel in empty
                 if not any(has_data(query(local_cluster, target["expr"].replace("$__rate_interval", RATE_INTERVAL)))
                            for target in panel["targets"])]
        if empty:
            assert time.monotonic() < deadline, f"panels without data: {[p['title'] for _, p in empty]}"
            time.sleep(1.0)
    assert has_data(query(local_cluster, 'min(vomid_backend_up{backend="store"}) == 1'))


def rule_window_s(alert: str) -> float:
    rules = [r for path in RULES_DIR.glob("*.yml") for g in yaml.safe_load(path.read_text())["groups"]
             for r in g["rules"]]
    text = next(r["for"] for r in rules if r.get("alert") == alert)
    return float(text[:-1]) * {"s": 1, "m": 60}[text[-1]]


def firing(cluster, alerts: set[str], label: str, value: str) -> list[dict]:
    status, body = health.http_get(f"{cluster.prometheus_url}/api/v1/alerts")
    return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] in alerts and a["state"] == "firing"
            and a["labels"].get(label) == value]


def test_a_killed_triton_fires_its_alerts_then_they_clear(local_cluster, front, clips):
    metrics, grpc = local_cluster.state.address("triton-1", "metrics"), local_cluster.state.address("triton-1", "grpc")
    assert not firing(local_cluster, {"VomidTritonDown"}, "instance", metrics)
    window = rule_window_s("VomidTritonDown")
    slack = 15.0  # a few 1 s scrape/evaluation cycles, plus a loaded CI machine
    local_cluster.kill("triton-1")
    killed = time.monotonic()
    seen: set[str] = set()
    while seen != {"VomidTritonDown", "VomidTritonEjected"}:
        seen |= {a["labels"]["alertname"] for a in firing(local_cluster, {"VomidTritonDown"}, "instance", metrics)}
        seen |= {a["labels"]["alertname"] for a in firing(local_cluster, {"VomidTritonEjected"},
                                                          "exported_instance", grpc)}
        assert time.monotonic() - killed < window + slack, f"only {seen} fired within {window}s + {slack}s"
        time.sleep(0.5)
    assert time.monotonic() - killed >= window, "an alert fired before its `for:` window"
    response, _ = front.request("POST", "/api/v1/voiceprint/identify", clips[3], top_k="1")
    assert response.status_code == 200, "the other Triton instance keeps serving"

    local_cluster.start("triton-1")
    restarted = time.monotonic()
    while firing(local_cluster, {"VomidTritonDown"}, "instance", metrics) or \
            firing(local_cluster, {"VomidTritonEjected"}, "exported_instance", grpc):
        assert time.monotonic() - restarted < slack + 30, "the alerts did not clear after the restart"
        time.sleep(0.5)
