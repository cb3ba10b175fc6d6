"""Smooth weighted round robin: nginx's sequence and exact ratios."""
from router.balancer.strategies import WeightedRoundRobin
from tests.router.balancer.strategies.fakes import fakes, picks


def test_smooth_sequence_like_nginx():
    a, b, c = fakes(5, 1, 1)
    strategy = WeightedRoundRobin()
    sequence = [strategy.pick([a, b, c]).url for _ in range(7)]
    # nginx's documented example for weights 5,1,1: a a b a c a a
    assert sequence == [a.url, a.url, b.url, a.url, c.url, a.url, a.url]


def test_ratio_follows_weights():
    instances = fakes(3, 1)
    counts = picks(WeightedRoundRobin(), instances, 40)
    assert (counts[instances[0].url], counts[instances[1].url]) == (30, 10)


def test_missing_candidate_leaves_the_others_in_proportion():
    a, b, c = fakes(2, 1, 1)
    strategy = WeightedRoundRobin()
    counts = picks(strategy, [a, b], 30)  # c ejected
    assert (counts[a.url], counts[b.url]) == (20, 10)
