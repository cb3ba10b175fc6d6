"""Copies the shipped config files into the Kubernetes ConfigMaps, byte for byte.

    python scripts/sync_k8s_config.py

compose/k8s/10-config.yaml carries config/production.yaml; compose/k8s/15-redis-config.yaml carries
compose/redis/{redis.conf,sentinel.conf,entrypoint.sh}; compose/k8s/monitoring/70-alerts.yaml carries the groups of
compose/prometheus/rules/vomid.yml. tests/compose fails when a copy differs from its source: run this after editing.
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "compose" / "k8s"


def literal(text: str, indent: int = 4) -> str:
    return "".join((" " * indent + line if line.strip() else "") + "\n" for line in text.splitlines())


def config_map(name: str, comment: str, files: dict[str, str]) -> str:
    data = "".join(f"  {key}: |\n{literal(text)}" for key, text in files.items())
    return (f"{comment}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: vomid\n"
            f"  labels:\n    app.kubernetes.io/part-of: edge-vomid\ndata:\n{data}")


def main() -> None:
    router = (ROOT / "config" / "production.yaml").read_text()
    (K8S / "10-config.yaml").write_text(config_map("vomid-config", (
        "# The router's production.yaml (mounted at /etc/vomid/production.yaml): config/production.yaml byte\n"
        "# for byte (scripts/sync_k8s_config.py writes it, tests/compose checks it), the file compose mounts.\n"
        "# Secrets: the vomid-secrets Secret at /run/secrets; the Redis password through VOIMID_REDIS_PASSWORD.\n"),
        {"production.yaml": router}))
    redis = ROOT / "compose" / "redis"
    (K8S / "15-redis-config.yaml").write_text(config_map("vomid-redis", (
        "# compose/redis/* byte for byte (scripts/sync_k8s_config.py): the Redis and Sentinel pods start from\n"
        "# the same config and entrypoint as the compose containers and `scripts/deploy.sh --local`.\n"),
        {name: (redis / name).read_text() for name in ("redis.conf", "sentinel.conf", "entrypoint.sh")}))
    groups = yaml.safe_load((ROOT / "compose" / "prometheus" / "rules" / "vomid.yml").read_text())["groups"]
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "vomid", "namespace": "vomid",
                         "labels": {"app.kubernetes.io/part-of": "edge-vomid", "release": "prometheus"}},
            "spec": {"groups": groups}}
    (K8S / "monitoring").mkdir(exist_ok=True)
    (K8S / "monitoring" / "70-alerts.yaml").write_text(
        "# The alert rules of compose/prometheus/rules/vomid.yml for the Prometheus Operator\n"
        "# (scripts/sync_k8s_config.py writes this file).\n"
        "# Apply where the Operator's CRDs exist: kubectl apply -f compose/k8s/monitoring/\n"
        + yaml.safe_dump(rule, sort_keys=False, width=120))


if __name__ == "__main__":
    main()
