"""The deployment files checked by the real tools (scripts/test.sh installs them): promtool, nginx, hadolint,
kubernetes-validate, the compose-spec JSON schema, and the shells' own syntax check."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.compose.facts import COMPOSE, K8S, REPO

SCRIPTS = [COMPOSE / "redis" / "entrypoint.sh", COMPOSE / "init-secrets.sh", COMPOSE / "make-tls-cert.sh",
           COMPOSE / "store-cli.sh", COMPOSE / "export-entrypoint.sh"]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or \
        shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/test.sh installs it)")
    return found


def run(*command: str, cwd: Path = REPO) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_promtool_checks_the_config_and_its_rules():
    output = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=COMPOSE / "prometheus")
    assert "SUCCESS" in output and "rules found" in output


def test_promtool_unit_tests_every_alert():
    rules = [r["alert"] for g in yaml.safe_load((COMPOSE / "prometheus/rules/vomid.yml").read_text())["groups"]
             for r in g["rules"] if "alert" in r]
    tests = (COMPOSE / "prometheus/tests/vomid_test.yml").read_text()
    untested = [alert for alert in rules if f"alertname: {alert}" not in tests]
    assert not untested, f"alerts without a promtool unit test: {untested}"
    assert "SUCCESS" in run(tool("promtool"), "test", "rules", "tests/vomid_test.yml", cwd=COMPOSE / "prometheus")


def test_the_prometheus_rule_for_k8s_is_the_shipped_rules(tmp_path):
    rule = yaml.safe_load((K8S / "monitoring" / "70-alerts.yaml").read_text())
    shipped = yaml.safe_load((COMPOSE / "prometheus/rules/vomid.yml").read_text())
    assert rule["kind"] == "PrometheusRule" and rule["spec"] == shipped, "run scripts/sync_k8s_config.py"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule["spec"]))
    run(tool("promtool"), "check", "rules", str(tmp_path / "rules.yml"))


def test_nginx_accepts_the_shipped_config_with_unresolvable_router_names(tmp_path):
    """`voimid` does not resolve here: the resolver + variable form must still pass, as it starts in compose."""
    secrets = tmp_path / "secrets"
    run("sh", str(COMPOSE / "make-tls-cert.sh"), str(secrets))
    conf = tmp_path / "nginx.conf"
    conf.write_text((COMPOSE / "nginx/nginx.conf").read_text().replace("/run/secrets/", f"{secrets}/"))
    output = run(tool("nginx"), "-t", "-e", "stderr", "-c", str(conf), "-p", str(tmp_path),
                 "-g", f"pid {tmp_path / 'nginx.pid'};")
    assert "test is successful" in output


def test_nginx_rejects_a_broken_config(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { server { listen 8443 ssl; } }\n")  # TLS without a certificate
    result = subprocess.run([tool("nginx"), "-t", "-e", "stderr", "-c", str(conf), "-g", f"pid {tmp_path}/p;"],
                            capture_output=True, text=True)
    assert result.returncode != 0


def test_kubernetes_manifests_validate_strictly():
    files = sorted(str(p) for p in K8S.glob("*.yaml")) + sorted(str(p) for p in (K8S / "templates").glob("*.yaml"))
    output = run(tool("kubernetes-validate"), "--strict", *files)
    assert "passed" in output and "failed" not in output.lower()


@pytest.mark.parametrize("dockerfile", sorted(COMPOSE.glob("Dockerfile.*[!e]")), ids=lambda p: p.name)
def test_hadolint(dockerfile):
    run(tool("hadolint"), "--failure-threshold", "info", str(dockerfile))


def test_compose_file_matches_the_compose_spec():
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE / "docker-compose.yml"))


def test_compose_schema_check_catches_mistakes(tmp_path):
    broken = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    broken["services"]["voimid"]["restart"] = ["always"]  # must be a string
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             str(tmp_path / "docker-compose.yml")], capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("script", SCRIPTS + [REPO / "scripts/deploy.sh"], ids=lambda p: p.name)
def test_shell_syntax(script):
    run("bash" if script.name == "deploy.sh" else "sh", "-n", str(script))
