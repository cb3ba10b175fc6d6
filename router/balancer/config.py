"""Typed, validated settings of the Triton pool (the `triton` section of the router's config)."""
from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any, Mapping

import settings
from router.balancer.errors import BalancerConfigError
from router.balancer.strategies import STRATEGIES

SECTION = "triton"  # where these settings live in the router's config file, for error messages
DEFAULT_URL = "127.0.0.1:8001"  # tritonserver's own default gRPC port: a local server needs no config


@dataclass
class InstanceConfig:
    url: str  # host:grpc_port
    weight: int = 1


@dataclass
class BalancerConfig:
    instances: list[InstanceConfig] = field(default_factory=lambda: [InstanceConfig(DEFAULT_URL)])
    strategy: str = "least_connections"
    health_interval_s: float = 2.0
    eject_after_failures: int = 3
    readmit_after_s: float = 10.0
    retries: int = 2
    timeout_s: float = 10.0
    model_name: str = "speaker"
    # Never eject more than this share of the instances (at least one may go), as Envoy's max_ejection_percent.
    max_ejection_percent: int = 50
    # When fewer than this share of the healthy instances are admitted, balance over every healthy one.
    panic_threshold: float = 0.5
    # An instance that answered within this many seconds is busy, not broken, when it times out or refuses.
    busy_window_s: float = 5.0
    section: InitVar[str] = SECTION  # the config key error messages start with

    def __post_init__(self, section: str):
        self.validate(section)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], section: str = SECTION) -> "BalancerConfig":
        """Builds the config from parsed YAML/JSON; `instances` holds "host:port" strings or {url, weight}."""
        # The one mechanism of `settings` types every value; the instance list has its own two spellings.
        return settings.build(cls, data, f"{section}.", BalancerConfigError,
                              special={"instances": lambda key, value: _parse_instances(value, key)},
                              section=section)

    def validate(self, section: str = SECTION) -> None:
        if not self.instances:
            raise BalancerConfigError(f"{section}.instances: at least one Triton instance is needed")
        seen: set[str] = set()
        for index, instance in enumerate(self.instances):
            key = f"{section}.instances[{index}]"
            _check_url(instance.url, f"{key}.url")
            if not _is_int(instance.weight) or instance.weight < 1:
                raise BalancerConfigError(f"{key}.weight: must be a positive integer")
            if instance.url in seen:
                raise BalancerConfigError(f"{key}.url: duplicate instance {instance.url!r}")
            seen.add(instance.url)
        if self.strategy not in STRATEGIES:
            raise BalancerConfigError(f"{section}.strategy: must be one of {sorted(STRATEGIES)}, "
                                      f"got {self.strategy!r}")
        _require(section, "health_interval_s", _is_number(self.health_interval_s) and self.health_interval_s > 0,
                 "must be a number > 0")
        _require(section, "eject_after_failures", _is_int(self.eject_after_failures) and self.eject_after_failures >= 1,
                 "must be an integer >= 1")
        _require(section, "readmit_after_s", _is_number(self.readmit_after_s) and self.readmit_after_s >= 0,
                 "must be a number >= 0")
        _require(section, "retries", _is_int(self.retries) and self.retries >= 0, "must be an integer >= 0")
        _require(section, "timeout_s", _is_number(self.timeout_s) and self.timeout_s > 0, "must be a number > 0")
        _require(section, "model_name", isinstance(self.model_name, str) and bool(self.model_name),
                 "must be a non-empty string")
        _require(section, "max_ejection_percent", _is_int(self.max_ejection_percent)
                 and 0 <= self.max_ejection_percent <= 100, "must be an integer 0-100")
        _require(section, "panic_threshold", _is_number(self.panic_threshold) and 0 <= self.panic_threshold <= 1,
                 "must be a number in [0, 1]")
        _require(section, "busy_window_s", _is_number(self.busy_window_s) and self.busy_window_s >= 0,
                 "must be a number >= 0")


def _parse_instances(raw: Any, key: str) -> list[InstanceConfig]:
    if isinstance(raw, (str, bytes)) or not isinstance(raw, list):
        raise BalancerConfigError(f"{key}: must be a list of \"host:port\" strings or {{url, weight}} mappings")
    parsed = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            parsed.append(InstanceConfig(url=item))
        elif isinstance(item, Mapping):
            extra = set(item) - {"url", "weight"}
            if extra:
                raise BalancerConfigError(f"{key}[{index}].{sorted(extra)[0]}: unknown key (expected url, weight)")
            if "url" not in item:
                raise BalancerConfigError(f"{key}[{index}].url: is required")
            parsed.append(InstanceConfig(url=item["url"], weight=item.get("weight", 1)))
        else:
            raise BalancerConfigError(f"{key}[{index}]: must be a \"host:port\" string or a {{url, weight}} mapping")
    return parsed


def _check_url(url: Any, key: str) -> None:
    # gRPC takes host:port, not a URL with a scheme; catching "http://..." here saves a confusing runtime error.
    if not isinstance(url, str) or "://" in url:
        raise BalancerConfigError(f"{key}: must be \"host:port\" (gRPC, no scheme), got {url!r}")
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BalancerConfigError(f"{key}: must be \"host:port\" with a port 1-65535, got {url!r}")


def _require(section: str, name: str, ok: bool, message: str) -> None:
    if not ok:
        raise BalancerConfigError(f"{section}.{name}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
