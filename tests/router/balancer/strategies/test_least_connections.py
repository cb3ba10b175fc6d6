"""Least connections: fewest in flight per weight, rotating ties."""
from router.balancer.strategies import LeastConnections
from tests.router.balancer.strategies.fakes import fakes, picks


def test_fewest_in_flight_wins():
    instances = fakes(1, 1, 1)
    instances[0].in_flight, instances[1].in_flight, instances[2].in_flight = 4, 1, 2
    assert LeastConnections().pick(instances) is instances[1]


def test_ties_rotate_instead_of_piling_on_the_first():
    assert set(picks(LeastConnections(), fakes(1, 1, 1), 9).values()) == {3}


def test_in_flight_counts_per_unit_of_weight():
    instances = fakes(4, 1)
    instances[0].in_flight, instances[1].in_flight = 3, 1  # 0.75 per weight vs 1.0
    assert LeastConnections().pick(instances) is instances[0]


def test_spreads_when_every_pick_stays_in_flight():
    instances = fakes(1, 1, 1)
    strategy = LeastConnections()
    for _ in range(30):
        strategy.pick(instances).in_flight += 1
    assert [i.in_flight for i in instances] == [10, 10, 10]
