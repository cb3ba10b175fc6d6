"""Random: uniform, or proportional to weight (seeded generator)."""
import random

from router.balancer.strategies import RandomChoice
from tests.router.balancer.strategies.fakes import fakes, picks


def test_uniform_with_equal_weights():
    counts = picks(RandomChoice(random.Random(1)), fakes(1, 1, 1), 3000)
    assert all(900 < n < 1100 for n in counts.values())


def test_proportional_to_weight():
    instances = fakes(3, 1)
    counts = picks(RandomChoice(random.Random(2)), instances, 4000)
    assert 2.6 < counts[instances[0].url] / counts[instances[1].url] < 3.4
