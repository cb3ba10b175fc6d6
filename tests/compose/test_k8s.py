"""Static checks of compose/k8s/: references between objects, probes against real paths and ports, router env."""
from __future__ import annotations

import pytest
import yaml

from tests.compose import facts
from tests.compose.facts import K8S, REPO

NAMESPACE = "vomid"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def objects() -> list[dict]:
    paths = sorted(K8S.glob("*.yaml")) + sorted((K8S / "templates").glob("*.yaml"))
    return [doc for path in paths for doc in facts.load_yaml_docs(path)]


def of_kind(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects() if o["kind"] == kind}


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


def container_ports(container: dict) -> dict:
    """port name and number -> number."""
    ports = {}
    for port in container.get("ports", []):
        ports[port["containerPort"]] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


def router() -> dict:
    return of_kind("Deployment")["vomid-router"]


def router_env() -> dict[str, dict]:
    return {e["name"]: e for e in containers(router())[0]["env"]}


def router_config() -> dict:
    return yaml.safe_load(of_kind("ConfigMap")["vomid-config"]["data"]["production.yaml"])


def test_every_object_is_namespaced_and_named():
    kinds = {o["kind"] for o in objects()}
    assert {"Namespace", "ConfigMap", "Secret", "StatefulSet", "Deployment", "Service", "Job",
            "HorizontalPodAutoscaler", "PersistentVolumeClaim", "PodDisruptionBudget", "NetworkPolicy",
            "Ingress"} <= kinds
    for obj in objects():
        assert obj["metadata"]["name"], obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"


def test_namespace_applies_first():
    first = sorted(K8S.glob("*.yaml"))[0]
    assert [o["kind"] for o in facts.load_yaml_docs(first)] == ["Namespace"]


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_probes_hit_real_paths_and_ports(kind):
    known_paths = {"vomid-router": facts.router_routes(), "triton": facts.TRITON_HEALTH_PATHS}
    assert "/health" in known_paths["vomid-router"]
    for name, workload in of_kind(kind).items():
        for container in containers(workload):
            ports = container_ports(container)
            probes = [container.get(p) for p in ("readinessProbe", "livenessProbe", "startupProbe")]
            assert container.get("readinessProbe"), f"{name}: no readiness probe"
            for probe in filter(None, probes):
                action = probe.get("httpGet") or probe.get("tcpSocket")
                if action is None:
                    assert "exec" in probe, f"{name}: probe without an action"
                    continue
                assert action["port"] in ports, f"{name}: probe port {action['port']} is not a container port"
                if "httpGet" in probe:
                    assert action["path"] in known_paths[name], f"{name}: probe path {action['path']} not served"


def test_triton_probes_and_ports():
    triton = of_kind("StatefulSet")["triton"]
    container = containers(triton)[0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    ports = container_ports(container)
    for kind, default in facts.TRITON_DEFAULT_PORTS.items():
        assert ports[kind] == int(facts.flag_value(container["args"], f"--{kind}-port") or default)
        assert container["readinessProbe"]["httpGet"]["port"] in (ports["http"], "http")


def test_services_select_pods_and_ports():
    workloads = list(of_kind("Deployment").values()) + list(of_kind("StatefulSet").values())
    for name, service in of_kind("Service").items():
        selector = service["spec"]["selector"].items()
        matched = [w for w in workloads if selector <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert matched, f"service {name} selects no pods"
        for port in service["spec"]["ports"]:
            assert all(port["targetPort"] in container_ports(containers(w)[0]) for w in matched), (name, port)


def test_statefulsets_have_headless_services():
    services = of_kind("Service")
    for name, sts in of_kind("StatefulSet").items():
        service = services[sts["spec"]["serviceName"]]
        assert service["spec"].get("clusterIP") == "None", f"{name}: governing service must be headless"


def test_router_reaches_each_triton_and_sentinel_pod():
    triton = of_kind("StatefulSet")["triton"]
    grpc = container_ports(containers(triton)[0])["grpc"]
    urls = [i["url"].rsplit(":", 1) for i in router_config()["triton"]["instances"]]
    pods = {f"triton-{i}.{triton['spec']['serviceName']}" for i in range(triton["spec"]["replicas"])}
    assert {host for host, _ in urls} == pods and all(int(port) == grpc for _, port in urls)
    sentinel = of_kind("StatefulSet")["sentinel"]
    hosts = {a.rsplit(":", 1)[0] for a in router_config()["redis"]["sentinels"]}
    assert hosts == {f"sentinel-{i}.{sentinel['spec']['serviceName']}" for i in range(sentinel["spec"]["replicas"])}


def test_router_env_names_are_documented():
    assert set(router_env()) <= facts.documented_env()
    for name, entry in router_env().items():  # secrets come from the Secret, never inline
        assert entry["valueFrom"]["secretKeyRef"]["name"] == "vomid-secrets", name


def test_config_maps_are_the_shipped_files():
    """One router config everywhere; Redis pods start from compose/redis/* (scripts/sync_k8s_config.py)."""
    assert of_kind("ConfigMap")["vomid-config"]["data"]["production.yaml"] == \
        (REPO / "config" / "production.yaml").read_text()
    for name, text in of_kind("ConfigMap")["vomid-redis"]["data"].items():
        assert text == (REPO / "compose" / "redis" / name).read_text(), name


def test_router_config_map_loads_and_mounts():
    from router.config import load_config

    container = containers(router())[0]
    config_path = container["args"][container["args"].index("--config") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in router()["spec"]["template"]["spec"]["volumes"]}
    config_volume = next(n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "vomid-config")
    assert config_path == f"{mounts[config_volume]}/production.yaml"
    config = load_config(REPO / "config" / "production.yaml", env={"VOIMID_REDIS_PASSWORD": "x"})
    secret_volume = next(n for n, v in volumes.items() if "secret" in v)
    items = {i["path"]: i["key"] for i in volumes[secret_volume]["secret"]["items"]}
    secret = of_kind("Secret")[volumes[secret_volume]["secret"]["secretName"]]
    for setting in (config.auth.keys_file, config.storage.encryption_key_file):
        directory, _, item = setting.rpartition("/")
        assert directory == mounts[secret_volume] and items[item] in secret["stringData"], setting
    assert "redis_password" in secret["stringData"]


RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_workloads_meet_the_restricted_profile(kind):
    for name, workload in of_kind(kind).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container.get("securityContext", {})
            assert RESTRICTED_CONTAINER.items() <= security.items(), f"{name}/{container['name']}"
            assert ":" in container["image"] and not container["image"].endswith(":latest"), container["image"]
            assert container.get("resources", {}).get("limits", {}).get("memory"), f"{name}: memory limit"
            if kind != "Job":
                assert security.get("readOnlyRootFilesystem") is True, f"{name}/{container['name']}"
    namespace = of_kind("Namespace")["vomid"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_long_running_workload_has_a_disruption_budget_and_spreads():
    budgets = of_kind("PodDisruptionBudget").values()
    for kind in ("Deployment", "StatefulSet"):
        for name, workload in of_kind(kind).items():
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets), name
            affinity = workload["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            assert affinity["preferredDuringSchedulingIgnoredDuringExecution"], name


def test_network_policies_deny_by_default_and_admit_only_the_routers_to_backends():
    policies = of_kind("NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    router_label = {"app.kubernetes.io/name": "vomid-router"}
    for name in ("triton-ingress", "redis-ingress", "sentinel-ingress"):
        sources = [p.get("podSelector", {}).get("matchLabels") for rule in policies[name]["spec"]["ingress"]
                   for p in rule["from"]]
        assert router_label in sources, name
        assert {} not in sources and None not in [rule.get("from") for rule in policies[name]["spec"]["ingress"]]


def test_router_probes_and_sizing_come_from_measurements():
    container = containers(router())[0]
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/health/live"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1058, "the measured 1 M-voiceprint load"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") and float(limit[:-2]) * 2**30 >= 130e6 + 2712 * 1_000_000


def test_claims_and_secrets_exist():
    claims = set(of_kind("PersistentVolumeClaim"))
    for kind in WORKLOAD_KINDS:
        for name, workload in of_kind(kind).items():
            for volume in workload["spec"]["template"]["spec"].get("volumes", []):
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims, name
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in of_kind("ConfigMap"), name


def test_redis_persists_with_aof():
    redis = of_kind("StatefulSet")["redis"]
    assert redis["spec"]["replicas"] >= 3 and of_kind("StatefulSet")["sentinel"]["spec"]["replicas"] >= 3
    assert "appendonly yes" in of_kind("ConfigMap")["vomid-redis"]["data"]["redis.conf"]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] in \
        {m["name"] for m in containers(redis)[0]["volumeMounts"]}


def test_export_job_writes_the_models_claim():
    job = of_kind("Job")["vomid-export"]
    container = containers(job)[0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["VOIMID_EXPORT_TARGET"] in facts.export_targets()
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    triton = of_kind("StatefulSet")["triton"]
    assert "--model-repository=/models" in containers(triton)[0]["args"]


def test_hpa_scales_the_router():
    hpa = of_kind("HorizontalPodAutoscaler")["vomid-router"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "vomid-router")
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    # CPU utilisation is relative to requests: without them the HPA cannot compute it.
    assert containers(router())[0]["resources"]["requests"]["cpu"]
