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
        assert name in (COMPOSE / "init-secrets.sh").read_text(), f"init-secrets.sh does not make {name}"


def test_depends_on_names_services():
    for name, service in services().items():
        for dependency in service.get("depends_on", []):
            assert dependency in services(), f"{name} depends on unknown service {dependency}"


def production() -> dict:
    return yaml.safe_load((REPO / "config" / "production.yaml").read_text())


def aliases(service: dict) -> set[str]:
    networks = service.get("networks", {})
    return {a for n in (networks.values() if isinstance(networks, dict) else []) for a in (n or {}).get("aliases", [])}


def test_the_router_service_is_voimid_scaled_behind_dns():
    assert list(router_services()) == ["voimid"]
    voimid = services()["voimid"]
    assert voimid["deploy"]["replicas"] >= 2 and "container_name" not in voimid  # `--scale voimid=N` works
    assert voimid["command"] == ["python", "-m", "router", "--config", ROUTER_CONFIG_PATH]


def test_prometheus_targets_are_services_with_their_ports():
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    routers = jobs["vomid-router"]["dns_sd_configs"]
    assert routers == [{"names": ["voimid"], "type": "A", "port": production()["api"]["port"],
                        "refresh_interval": routers[0]["refresh_interval"]}]
    targets = [t for sc in jobs["triton"]["static_configs"] for t in sc["targets"]]
    assert {t.split(":")[0] for t in targets} == set(triton_services())
    for host, port in hostports(",".join(targets)):
        assert port == triton_port("metrics") and port in exposed(triton_services()[host]), host
    rule_dir = COMPOSE / "prometheus" / Path(config["rule_files"][0]).parent
    mounts = dict(v.split(":")[:2] for v in services()["prometheus"]["volumes"])
    assert mounts["./prometheus/rules"] == "/etc/prometheus/rules" and rule_dir.is_dir()


def test_routers_name_every_triton_and_sentinel_by_a_shared_name():
    config = production()
    urls = [i["url"] for i in config["triton"]["instances"]]
    assert {h for h, _ in hostports(",".join(urls))} == {f"{s}.triton" for s in triton_services()}
    assert all(p == triton_port("grpc") for _, p in hostports(",".join(urls)))
    for name, service in triton_services().items():
        assert f"{name}.triton" in aliases(service) and triton_port("grpc") in exposed(service), name
    sentinels = {n: s for n, s in services().items() if n.startswith("sentinel-")}
    assert {h for h, _ in hostports(",".join(config["redis"]["sentinels"]))} == {f"{n}.sentinel" for n in sentinels}
    for name, service in sentinels.items():
        assert f"{name}.sentinel" in aliases(service), name
    shared = set(services()["voimid"]["networks"]) & set(services()["triton-0"]["networks"])
    assert "backend" in shared


def test_nginx_resolves_the_scaled_router_service_at_run_time():
    text = (COMPOSE / "nginx" / "nginx.conf").read_text()
    assert re.search(r"^\s*resolver 127\.0\.0\.11\b", text, re.M), "Docker's DNS, asked at run time"
    target = re.search(r"set \$vomid_router ([\w.-]+):(\d+);", text)
    assert target and target.group(1) == "voimid" and int(target.group(2)) == production()["api"]["port"]
    assert "proxy_pass http://$vomid_router;" in text and not re.search(r"^\s*upstream ", text, re.M)
    assert "listen 8443 ssl http2;" in text and "/run/secrets/tls_cert" in text
    nginx = services()["nginx"]
    assert {"tls_cert", "tls_key"} <= set(nginx["secrets"]) and nginx["ports"] == ["${VOIMID_HTTPS_PORT:-8443}:8443"]


def test_router_env_names_are_documented():
    documented = facts.documented_env()
    voimid = services()["voimid"]
    named = set(re.findall(r"VOIMID_[A-Z0-9_]+", " ".join(voimid["entrypoint"]) + str(voimid.get("environment", ""))))
    assert named and named <= documented, sorted(named - documented)


def test_router_config_loads_with_compose_secrets():
    from router.config import load_config

    voimid = services()["voimid"]
    assert f"../config/production.yaml:{ROUTER_CONFIG_PATH}:ro" in voimid["volumes"]
    config = load_config(REPO / "config" / "production.yaml", env={"VOIMID_REDIS_PASSWORD": "x"})
    secrets = {f"/run/secrets/{s}" for s in voimid["secrets"]}
    assert {config.auth.keys_file, config.storage.encryption_key_file} <= secrets
    assert "redis_password" in voimid["secrets"] and config.storage.redis_sentinel_master == "vomid"


def test_services_are_hardened():
    for name, service in services().items():
        assert service.get("cap_drop") == ["ALL"], f"{name}: drop every capability"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin the image ({image})"
        if name != "export":  # the exporter writes its cache and repository
            assert service.get("read_only") is True, f"{name}: read-only root"
        if service.get("secrets"):
            assert "10001" in service.get("group_add", []), f"{name}: reads its secrets through group 10001"
    for name in ("prometheus", "grafana", "alertmanager"):
        assert all(p.startswith("${VOIMID_") and "_BIND:-127.0.0.1}:" in p for p in services()[name]["ports"]), name
    assert services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == \
        "/run/secrets/grafana_admin_password"


def test_router_image():
    instructions = facts.dockerfile(COMPOSE / "Dockerfile.router")
    text = (COMPOSE / "Dockerfile.router").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+$", text, re.M), "pin the base image"
    assert "-c constraints.txt" in text
    assert not re.search(r"torch|\[export|\[dev", " ".join(a for k, a in instructions if k == "RUN"))
    last = dict(instructions)  # the final stage's values win
    assert facts.exec_form(last["CMD"]) == ["python", "-m", "router", "--config", ROUTER_CONFIG_PATH]
    assert last["USER"] not in ("root", "0")
    health = last["HEALTHCHECK"]
    assert "/health/ready" in health and "/health/ready" in facts.router_routes()
    assert "8080" in last["EXPOSE"].split()


def test_constraints_pin_every_base_dependency():
    pins = dict(line.split("==") for line in (COMPOSE / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d)[0].lower().replace("_", "-") for d in dependencies}
    assert names <= set(pins), f"missing pins (python scripts/lock_constraints.py): {sorted(names - set(pins))}"


def test_triton_image_pins_match_pyproject():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    text = (COMPOSE / "Dockerfile.triton").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\$\{TRITON_VERSION\}-py3$", text, re.M)
    installs = " ".join(a for k, a in facts.dockerfile(COMPOSE / "Dockerfile.triton") if k == "RUN" and "pip install" in a)
    pins = [pin for pin in re.findall(r"\"([A-Za-z0-9_.-]+[<>=!~][^\"]*)\"", installs) if "${" not in pin]
    assert pins, "Dockerfile.triton installs no pinned engine dependencies"
    assert set(pins) <= {d.split(";")[0].replace(" ", "") for d in dependencies}, "pins differ from pyproject"
    # Everything the python-backend models import (besides the stub's own module) comes from those pins.
    distributions = {re.split(r"[<>=!~\[]", pin)[0].replace("-", "_") for pin in pins}
    modules = {"webrtcvad_wheels": "webrtcvad"}  # distributions whose module has another name
    installed = {modules.get(d, d) for d in distributions} | {"triton_python_backend_utils"}
    # torch, for the GPU front end only, comes from a build argument (PyPI's CUDA build must match the image's CUDA).
    assert 'ARG TORCH_VERSION=""' in text and 'pip install "torch==${TORCH_VERSION}"' in installs
    assert facts.model_code_imports() <= installed | {"torch"}, "the Triton image lacks a dependency of engine/triton_models"
    assert "torch" not in facts.model_code_imports(exclude={"torch_fbank_model.py"}), "torch beyond the GPU front end"
    exposed_ports = {int(p) for k, a in facts.dockerfile(COMPOSE / "Dockerfile.triton") if k == "EXPOSE" for p in a.split()}
    assert {triton_port(kind) for kind in facts.TRITON_DEFAULT_PORTS} <= exposed_ports
    assert "--model-repository=/models" in triton_cmd()
    for name, service in triton_services().items():
        assert "models:/models:ro" in service["volumes"], name


def test_export_service():
    entrypoint = (COMPOSE / "export-entrypoint.sh").read_text()
    assert "python -m tools.export --output" in entrypoint
    assert "pip install -c constraints.txt '.[export]'" in (COMPOSE / "Dockerfile.export").read_text()
    export = services()["export"]
    default = re.fullmatch(r"\$\{VOIMID_EXPORT_TARGET:-(\w[\w-]*)\}", export["environment"]["VOIMID_EXPORT_TARGET"])
    assert default and default.group(1) in facts.export_targets()
    assert any(v.startswith("models:/models") for v in export["volumes"])
    readers = entrypoint + "".join(p.read_text() for p in facts.python_sources("tools"))
    for var in export["environment"]:
        by_name = rf"[\"'{{$]{var}\b|variable\(\"{var.removeprefix('VOIMID_')}\""  # literally, or settings.env
        assert re.search(by_name, readers), f"export: nothing reads {var}"
    for name in triton_services():
        assert services()[name]["depends_on"]["export"]["condition"] == "service_completed_successfully"


def test_redis_is_persistent_replicated_and_watched():
    conf = (COMPOSE / "redis" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    nodes = {n: s for n, s in services().items() if re.fullmatch(r"redis-\d+", n)}
    sentinels = [n for n in services() if re.fullmatch(r"sentinel-\d+", n)]
    assert len(nodes) >= 3 and len(sentinels) >= 3, "a master, two replicas and a Sentinel quorum"
    for name, node in nodes.items():
        assert any(v.endswith(":/data") and not v.startswith(".") for v in node["volumes"]), name
        assert node["entrypoint"][-1] == "server" and f"{name}.redis" in aliases(node)
    sentinel = (COMPOSE / "redis" / "sentinel.conf").read_text()
    assert re.search(r"^sentinel monitor vomid redis-0\.redis 6379 2$", sentinel, re.M)


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
    for needle in ("docker compose", "kubectl", "--target onnx-gpu", "--target tensorrt", "VOIMID_MODEL_PATH",
                   "VOIMID_PYTHONPATH", "grafana/dashboards/vomid.json"):
        assert needle in text, f"compose/README.md does not mention {needle}"

