"""What a local cluster is made of (ClusterSpec) and what it has become (ClusterState: ports, pids), kept as JSON.

Service names follow compose: `voimid-1..N` are the replicas of the scaled `voimid` router service, `triton-0..M-1`
the Triton instances, `redis-0` (initial master), `redis-1`, `redis-2`, `sentinel-0..2`, `nginx`, `prometheus`.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE_FILE = "cluster.json"
REDIS_NODES = 3  # master + 2 replicas: with one node down, writes still reach a replica (WAIT)
SENTINELS = 3

# Ports each kind of service listens on, by role.
PORTS = {"router": ("api",), "triton": ("http", "grpc", "metrics"), "redis": ("redis",),
         "sentinel": ("sentinel",), "nginx": ("https",), "prometheus": ("web",)}


@dataclass
class ClusterSpec:
    directory: Path
    model_repository: Path
    routers: int = 2
    tritons: int = 2
    # Services run in their own network namespace behind a veth link (root only), so that a test or the chaos run
    # can cut them off the network without killing them.
    isolated: tuple[str, ...] = ()
    # Prometheus overrides for tests (short cycles); None keeps the shipped values.
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    # Extra VOIMID_* settings for every router (e.g. a load run's rate limits).
    router_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.directory = Path(self.directory).resolve()
        self.model_repository = Path(self.model_repository).resolve()
        self.isolated = tuple(self.isolated)

    def to_json(self) -> dict:
        raw = dataclasses.asdict(self)
        return {**raw, "directory": str(self.directory), "model_repository": str(self.model_repository),
                "isolated": list(self.isolated)}


def router_names(count: int) -> list[str]:
    return [f"voimid-{i}" for i in range(1, count + 1)]


def service_names(spec: ClusterSpec) -> dict[str, str]:
    """name -> kind, in start order."""
    names = {f"redis-{i}": "redis" for i in range(REDIS_NODES)}
    names |= {f"sentinel-{i}": "sentinel" for i in range(SENTINELS)}
    names |= {f"triton-{i}": "triton" for i in range(spec.tritons)}
    names |= {name: "router" for name in router_names(spec.routers)}
    return names | {"nginx": "nginx", "prometheus": "prometheus"}


@dataclass
class ClusterState:
    spec: ClusterSpec
    ports: dict[str, dict[str, int]] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address (127.0.0.1, or its namespace's)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.spec.directory / STATE_FILE

    def host(self, name: str) -> str:
        return self.hosts.get(name, "127.0.0.1")

    def address(self, name: str, port: str) -> str:
        return f"{self.host(name)}:{self.ports[name][port]}"

    def names(self, kind: str | None = None) -> list[str]:
        return [n for n, k in service_names(self.spec).items() if kind is None or k == kind]

    def kind(self, name: str) -> str:
        try:
            return service_names(self.spec)[name]
        except KeyError:
            raise KeyError(f"no service {name!r} (known: {', '.join(service_names(self.spec))})") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"spec": self.spec.to_json(), "ports": self.ports, "hosts": self.hosts,
                                   "pids": self.pids}, indent=2))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, directory: Path) -> "ClusterState":
        path = Path(directory) / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no local cluster in {directory} (run `scripts/deploy.sh deploy --local`)") \
                from None
        return cls(spec=ClusterSpec(**raw["spec"]), ports=raw["ports"], hosts=raw["hosts"], pids=raw["pids"])
