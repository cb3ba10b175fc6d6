"""What the deployment files are checked against: names the code declares, and small parsers for the files.

Everything is read from the repository's own sources (grep-level, no imports of the router), so a renamed metric,
env var or route in router/ or store/ makes tests/compose fail instead of leaving a dashboard or probe dangling.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose"
K8S = COMPOSE / "k8s"

# Triton's own metrics (server docs, "Metrics"); the ones the dashboard may use. nv_* names outside this set
# are typos until someone adds them here deliberately.
TRITON_METRICS = frozenset({
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
    "nv_inference_exec_count", "nv_inference_pending_request_count", "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us", "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us",
    "nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage",
    "nv_gpu_power_limit", "nv_energy_consumption", "nv_cpu_utilization", "nv_cpu_memory_total_bytes",
    "nv_cpu_memory_used_bytes", "nv_pinned_memory_pool_total_bytes", "nv_pinned_memory_pool_used_bytes",
})
# Series Prometheus itself adds to every scrape target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                               "scrape_samples_post_metric_relabeling", "scrape_series_added"})
TRITON_HEALTH_PATHS = frozenset({"/v2/health/ready", "/v2/health/live"})
TRITON_DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}

_METRIC_DECL = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"'](vomid_[a-z0-9_]+)[\"']")
_ROUTE = re.compile(r"\.add_(?:get|post|put|patch|delete|route)\(\s*(?:[\"'][A-Z]+[\"'],\s*)?[\"'](/[^\"']*)[\"']")
_PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                              "group_left", "group_right", "inf", "nan"})


def python_sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (REPO / package).rglob("*.py"))


def exposed_names(kind: str, name: str) -> set[str]:
    """The series names prometheus_client exposes for one declared metric."""
    if kind == "Counter":
        base = name[: -len("_total")] if name.endswith("_total") else name
        return {f"{base}_total", f"{base}_created"}
    if kind == "Histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "Summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    return {name}


def declared_metrics() -> set[str]:
    """Every vomid_* series the router and store declare (router/, store/, main.py)."""
    files = python_sources("router", "store") + [p for p in [REPO / "main.py"] if p.exists()]
    names: set[str] = set()
    for path in files:
        for kind, name in _METRIC_DECL.findall(path.read_text()):
            names |= exposed_names(kind, name)
    return names


def documented_env() -> set[str]:
    """VOIMID_* names the router reads: its config's environment names (derived from every key, plus the
    documented aliases) and the process-level ones (the store's key variable)."""
    from router.config import ENV_KEYS
    from settings.env import PROCESS_VARIABLES

    return set(ENV_KEYS) | set(PROCESS_VARIABLES)


def router_routes() -> set[str]:
    return {route for path in python_sources("router") for route in _ROUTE.findall(path.read_text())}


def export_targets() -> tuple[str, ...]:
    text = (REPO / "tools" / "export" / "repository.py").read_text()
    match = re.search(r"^TARGETS = (\(.*\))$", text, re.M)
    assert match, "tools/export/repository.py no longer defines TARGETS = (...)"
    return tuple(re.findall(r"\"([^\"]+)\"", match.group(1)))


def model_code_imports(exclude: set[str] = frozenset()) -> set[str]:
    """Top-level third-party modules the Triton python models (but those named in `exclude`) import, following
    engine.* imports transitively."""
    todo = sorted(p for p in (REPO / "engine" / "triton_models").glob("*.py") if p.name not in exclude)
    seen, found = set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for module in modules:
                if module.split(".")[0] != "engine":
                    found.add(module.split(".")[0])
                    continue
                base = REPO.joinpath(*module.split("."))
                todo += [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()]
    return found - set(sys.stdlib_module_names) - {"__future__"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group().lower() in _PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


def flatten(mapping: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_yaml_docs(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose_file() -> dict:
    return yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())


def dashboards() -> dict[Path, dict]:
    return {path: json.loads(path.read_text()) for path in sorted((COMPOSE / "grafana" / "dashboards").glob("*.json"))}


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            pending = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT arguments as a list (JSON exec form, else shell words)."""
    arguments = arguments.strip()
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def copy_sources(arguments: str) -> list[str]:
    """Build-context sources of a COPY/ADD (none for --from=stage copies)."""
    words = shlex.split(arguments)
    if any(w.startswith("--from") for w in words):
        return []
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]


def flag_value(args: list[str], flag: str) -> str | None:
    for arg in args:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
