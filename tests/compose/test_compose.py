"""Static checks of compose/: the images, the compose cluster, Prometheus and Grafana (no Docker engine needed).

Each test names what it compares against the code (metric names, VOIMID_* variables, routes, export targets),
so a change on either side shows up here rather than as an empty panel or a silently ignored setting.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from tests.compose import facts
from tests.compose.facts import COMPOSE, REPO

# Panels shipped ahead of the code that will expose them: name -> who adds it (none at the moment).
PENDING_METRICS: dict[str, str] = {}
ROUTER_CONFIG_PATH = "/etc/vomid/production.yaml"


def services() -> dict:
    return facts.compose_file()["services"]


def router_services() -> dict:
    return {name: s for name, s in services().items() if "Dockerfile.router" in str(s.get("build", {}))}


def triton_services() -> dict:
    return {name: s for name, s in services().items() if "Dockerfile.triton" in str(s.get("build", {}))}


def triton_cmd() -> list[str]:
    return facts.exec_form(dict(facts.dockerfile(COMPOSE / "Dockerfile.triton"))["CMD"])


def triton_port(kind: str) -> int:
    value = facts.flag_value(triton_cmd(), f"--{kind}-port")
    return int(value) if value else facts.TRITON_DEFAULT_PORTS[kind]


def exposed(service: dict) -> set[int]:
    return {int(str(p).split("/")[0]) for p in service.get("expose", [])}


def hostports(csv: str) -> list[tuple[str, int]]:
    return [(hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])) for hp in csv.split(",") if hp.strip()]


@pytest.mark.parametrize("path", sorted(p.relative_to(REPO) for p in COMPOSE.rglob("*.y*ml")), ids=str)
def test_yaml_parses(path):
    docs = facts.load_yaml_docs(REPO / path)
    assert docs and all(isinstance(doc, dict) for doc in docs), f"{path}: no mapping documents"


def test_build_files_exist():
    for name, service in services().items():
        if "build" not in service:
            assert "image" in service, f"{name}: neither build nor image"
            continue
        context = (COMPOSE / service["build"]["context"]).resolve()
        dockerfile = context / service["build"]["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
        reincluded = [line[1:].removesuffix("/**") for line in ignore.read_text().splitlines() if line.startswith("!")]
        for keyword, arguments in facts.dockerfile(dockerfile):
            if keyword not in ("COPY", "ADD"):
                continue
            for source in facts.copy_sources(arguments):
                assert (context / source).exists(), f"{dockerfile.name}: COPY source {source} missing"
                assert any(source == r or source.startswith(r + "/") for r in reincluded), \
                    f"{dockerfile.name}: {source} is excluded by {ignore.name}"


def test_bind_mounts_and_secrets_exist():
    compose = facts.compose_file()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: bind mount {source} missing"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} not declared"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: secret {secret} not declared"
    ignored = (COMPOSE / "secrets" / ".gitignore").read_text().split()
    for name, secret in compose["secrets"].items():
        path = (COMPOSE / secret["file"]).resolve()
        assert path.parent == COMPOSE / "secrets", f"secret {name}: keep secret files in compose/secrets/"
        assert "*" in ignored and f"!{path.name}" not in ignored, f"secret {name}: {path.name} is not git-ignored"


def test_depends_on_names_services():
    for name, service in services().items():
        for dependency in service.get("depends_on", []):
            assert dependency in services(), f"{name} depends on unknown service {dependency}"


def test_prometheus_targets_are_services_with_their_ports():
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    expected = {"vomid-router": (router_services(), lambda s: int(s["environment"]["VOIMID_API_PORT"])),
                "triton": (triton_services(), lambda s: triton_port("metrics"))}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(expected) <= set(jobs)
    for job_name, (members, port_of) in expected.items():
        targets = [t for sc in jobs[job_name]["static_configs"] for t in sc["targets"]]
        assert {t.split(":")[0] for t in targets} == set(members), f"{job_name}: targets != its compose services"
        for host, port in hostports(",".join(targets)):
            assert port == port_of(members[host]) and port in exposed(members[host]), f"{job_name}: {host}:{port}"


def test_routers_name_every_triton_grpc_port():
    grpc = triton_port("grpc")
    for name, service in router_services().items():
        urls = hostports(service["environment"]["VOIMID_TRITON_URLS"])
        assert {host for host, _ in urls} == set(triton_services()), f"{name}: VOIMID_TRITON_URLS vs Triton services"
        assert all(port == grpc and grpc in exposed(triton_services()[host]) for host, port in urls), name
        assert service["environment"]["VOIMID_REDIS_HOST"] in services(), name


def test_nginx_upstream_is_the_router_services():
    text = (COMPOSE / "nginx" / "nginx.conf").read_text()
    upstream = {(h, int(p)) for h, p in re.findall(r"^\s*server\s+([\w.-]+):(\d+)", text, re.M)}
    assert upstream == {(name, int(s["environment"]["VOIMID_API_PORT"])) for name, s in router_services().items()}


def test_router_env_names_are_documented():
    documented = facts.documented_env()
    assert "VOIMID_TRITON_URLS" in documented, "router/config.py no longer documents VOIMID_* names?"
    for name, service in router_services().items():
        for var in service["environment"]:
            # VOMID_ (no I) is the engine/export prefix: the router would silently ignore it.
            assert var in documented, f"{name}: {var} is not read by router/config.py or store/crypto.py"


def test_router_config_loads_with_compose_env():
    from router.config import load_config

    for name, service in router_services().items():
        mount = next(v for v in service["volumes"] if v.split(":")[1] == ROUTER_CONFIG_PATH)
        env = {k: str(v) for k, v in service["environment"].items()}
        config = load_config(COMPOSE / mount.split(":")[0], env=env)
        assert config.environment == "production" and config.storage.type == "redis", name
        assert [i.url for i in config.triton.instances] == env["VOIMID_TRITON_URLS"].split(","), name
        file_only = load_config(COMPOSE / mount.split(":")[0], env={})
        assert [i.url for i in file_only.triton.instances] == env["VOIMID_TRITON_URLS"].split(","), \
            f"{name}: the config file's Triton instances differ from VOIMID_TRITON_URLS"
        secrets = {f"/run/secrets/{s}" for s in service["secrets"]}
        assert {config.auth.keys_file, config.storage.encryption_key_file} <= secrets, name


def test_router_config_matches_the_project_production_config():
    """Same tuning as config/production.yaml; only where secrets, Triton and the audit log live may differ."""
    project = facts.flatten(yaml.safe_load((REPO / "config" / "production.yaml").read_text()))
    ours = facts.flatten(yaml.safe_load((COMPOSE / "config" / "production.yaml").read_text()))
    differing = {k for k in project.keys() | ours.keys() if project.get(k) != ours.get(k)}
    assert differing <= facts.DEPLOYMENT_KEYS, f"compose/config/production.yaml drifted: {sorted(differing)}"


def test_router_image():
    instructions = facts.dockerfile(COMPOSE / "Dockerfile.router")
    text = (COMPOSE / "Dockerfile.router").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert not re.search(r"torch|\[export|\[dev", " ".join(a for k, a in instructions if k == "RUN"))
    last = dict(instructions)  # the final stage's values win
    assert facts.exec_form(last["CMD"]) == ["python", "-m", "router", "--config", ROUTER_CONFIG_PATH]
    assert last["USER"] not in ("root", "0")
    health = last["HEALTHCHECK"]
    assert "/health" in health and "/health" in facts.router_routes()
    assert "8080" in last["EXPOSE"].split()


def test_triton_image_pins_match_pyproject():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    text = (COMPOSE / "Dockerfile.triton").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\$\{TRITON_VERSION\}-py3$", text, re.M)
    installs = " ".join(a for k, a in facts.dockerfile(COMPOSE / "Dockerfile.triton") if k == "RUN" and "pip install" in a)
    pins = re.findall(r"\"([A-Za-z0-9_.-]+[<>=!~][^\"]*)\"", installs)
    assert pins, "Dockerfile.triton installs no pinned engine dependencies"
    assert set(pins) <= {d.split(";")[0].replace(" ", "") for d in dependencies}, "pins differ from pyproject"
    # Everything the python-backend models import (besides the stub's own module) comes from those pins.
    distributions = {re.split(r"[<>=!~\[]", pin)[0].replace("-", "_") for pin in pins}
    modules = {"webrtcvad_wheels": "webrtcvad"}  # distributions whose module has another name
    installed = {modules.get(d, d) for d in distributions} | {"triton_python_backend_utils"}
    assert facts.model_code_imports() <= installed, "the Triton image lacks a dependency of engine/triton_models"
    exposed_ports = {int(p) for k, a in facts.dockerfile(COMPOSE / "Dockerfile.triton") if k == "EXPOSE" for p in a.split()}
    assert {triton_port(kind) for kind in facts.TRITON_DEFAULT_PORTS} <= exposed_ports
    assert "--model-repository=/models" in triton_cmd()
    for name, service in triton_services().items():
        assert "models:/models:ro" in service["volumes"], name


def test_export_service():
    entrypoint = (COMPOSE / "export-entrypoint.sh").read_text()
    assert "python -m tools.export --output" in entrypoint
    assert "pip install '.[export]'" in (COMPOSE / "Dockerfile.export").read_text()
    export = services()["export"]
    default = re.fullmatch(r"\$\{VOMID_EXPORT_TARGET:-(\w[\w-]*)\}", export["environment"]["VOMID_EXPORT_TARGET"])
    assert default and default.group(1) in facts.export_targets()
    assert any(v.startswith("models:/models") for v in export["volumes"])
    readers = entrypoint + "".join(p.read_text() for p in facts.python_sources("tools"))
    for var in export["environment"]:
        assert re.search(rf"[\"'{{$]{var}\b", readers), f"export: nothing reads {var}"
    for name in triton_services():
        assert services()[name]["depends_on"]["export"]["condition"] == "service_completed_successfully"


def test_redis_is_persistent():
    redis = services()["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") and not v.startswith(".") for v in redis["volumes"])


def test_grafana_provisioning_points_at_the_dashboards():
    grafana = services()["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    provisioning = COMPOSE / "grafana" / "provisioning"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "vomid.yml").read_text())["providers"]
    assert {p["options"]["path"] for p in providers} == {mounts["./grafana/dashboards"]}
    assert facts.dashboards(), "no dashboard JSON in compose/grafana/dashboards"


def datasource_uids() -> set[str]:
    path = COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    sources = yaml.safe_load(path.read_text())["datasources"]
    assert all(s["url"].split("//")[1].split(":")[0] in services() for s in sources)
    return {s["uid"] for s in sources}


def panel_exprs() -> list[tuple[str, str]]:
    found = []
    for path, dashboard in facts.dashboards().items():
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            assert panel.get("targets"), f"{path.name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in datasource_uids(), panel["title"]
                found.append((panel["title"], target["expr"]))
    return found


def test_promql_parser():
    expr = ('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{status=~"5..", x="b c"}[$__rate_interval])))'
            " / on(model) group_left sum(rate(b_total[5m])) > bool 0 and up offset 5m")
    assert facts.promql_metric_names(expr) == {"a_bucket", "b_total", "up"}


def test_dashboard_metrics_exist():
    known = facts.declared_metrics() | facts.TRITON_METRICS | facts.PROMETHEUS_SERIES | set(PENDING_METRICS)
    assert "vomid_http_requests_total" in known
    used = set()
    for title, expr in panel_exprs():
        names = facts.promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= known, f"{title}: unknown metric(s) {sorted(names - known)} in {expr!r}"
        used |= names
    required = {"vomid_http_requests_total", "vomid_http_request_duration_seconds_bucket", "vomid_errors_total",
                "nv_inference_count", "nv_inference_exec_count", "nv_inference_queue_duration_us"}
    assert required <= used


def test_pending_metrics_are_not_yet_declared():
    """A panel may ship ahead of its metric; once the code declares the metric, drop it from PENDING_METRICS."""
    assert not set(PENDING_METRICS) & facts.declared_metrics()


def test_readme_covers_operations():
    text = (COMPOSE / "README.md").read_text()
    for needle in ("docker compose", "kubectl", "--target onnx-gpu", "--target tensorrt", "VOMID_MODEL_PATH",
                   "VOMID_PYTHONPATH", "grafana/dashboards/vomid.json"):
        assert needle in text, f"compose/README.md does not mention {needle}"

