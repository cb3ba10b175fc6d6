"""BalancerConfig.from_dict: both instance spellings, defaults, and errors that name the offending key."""
from __future__ import annotations

import pytest

from router.balancer import BalancerConfig, BalancerConfigError, InstanceConfig


def test_instances_as_strings_or_mappings():
    config = BalancerConfig.from_dict({"instances": ["10.0.0.1:8001", {"url": "10.0.0.2:8001", "weight": 3}],
                                       "strategy": "weighted_round_robin", "retries": 1})
    assert config.instances == [InstanceConfig("10.0.0.1:8001", 1), InstanceConfig("10.0.0.2:8001", 3)]
    assert config.strategy == "weighted_round_robin" and config.retries == 1


def test_defaults():
    config = BalancerConfig.from_dict({"instances": ["triton:8001"]})
    assert (config.strategy, config.health_interval_s, config.eject_after_failures, config.readmit_after_s,
            config.retries, config.timeout_s, config.model_name) == ("least_connections", 2.0, 3, 10.0, 2, 10.0,
                                                                     "speaker")
    assert BalancerConfig.from_dict({}).instances == [InstanceConfig("127.0.0.1:8001")]


@pytest.mark.parametrize("data, key", [
    ({"instances": ["a:1", {"url": "b:2", "weight": 0}]}, "triton.instances[1].weight: must be a positive integer"),
    ({"instances": ["a:1", {"url": "b:2", "weight": True}]}, "triton.instances[1].weight"),
    ({"instances": [{"weight": 2}]}, "triton.instances[0].url"),
    ({"instances": [{"url": "a:1", "wieght": 2}]}, "triton.instances[0].wieght"),
    ({"instances": ["http://a:8001"]}, "triton.instances[0].url"),
    ({"instances": ["a:99999"]}, "triton.instances[0].url"),
    ({"instances": ["a:1", "a:1"]}, "triton.instances[1].url: duplicate"),
    ({"instances": []}, "triton.instances"),
    ({"instances": "a:1"}, "triton.instances"),
    ({"instances": [3]}, "triton.instances[0]"),
    ({"strategy": "fastest"}, "triton.strategy"),
    ({"health_interval_s": 0}, "triton.health_interval_s"),
    ({"eject_after_failures": 0}, "triton.eject_after_failures"),
    ({"readmit_after_s": -1}, "triton.readmit_after_s"),
    ({"retries": 1.5}, "triton.retries"),
    ({"timeout_s": "ten"}, "triton.timeout_s"),
    ({"model_name": ""}, "triton.model_name"),
    ({"retry": 2}, "triton.retry: unknown setting"),
])
def test_errors_name_the_key(data, key):
    with pytest.raises(BalancerConfigError) as caught:
        BalancerConfig.from_dict(data)
    assert str(caught.value).startswith(key)
    assert isinstance(caught.value, ValueError)


def test_section_prefix_follows_the_caller():
    with pytest.raises(BalancerConfigError, match=r"^balancer\.retries:"):
        BalancerConfig.from_dict({"retries": -1}, section="balancer")


def test_direct_construction_is_validated_too():
    with pytest.raises(BalancerConfigError, match=r"^triton\.instances\[0\]\.weight"):
        BalancerConfig(instances=[InstanceConfig("a:1", weight=-2)])
