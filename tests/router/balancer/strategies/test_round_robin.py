"""Round robin: strict turns, weights ignored."""
from router.balancer.strategies import RoundRobin
from tests.router.balancer.strategies.fakes import fakes, picks


def test_each_in_turn():
    instances = fakes(1, 1, 1)
    strategy = RoundRobin()
    assert [strategy.pick(instances).url for _ in range(4)] == [i.url for i in instances] + [instances[0].url]


def test_ignores_weights():
    assert set(picks(RoundRobin(), fakes(5, 1), 10).values()) == {5}
