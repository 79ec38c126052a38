"""tools/matmul_ceiling.py: one encoder layer's products, forward and both gradients, timed alone."""

import doctest
import math


def test_its_doctests_pass():
    from tools import matmul_ceiling

    outcome = doctest.testmod(matmul_ceiling)
    assert outcome.attempted >= 1 and outcome.failed == 0


def test_the_rate_counts_each_product_three_times_over_the_median_call(monkeypatch):
    from tools import matmul_ceiling

    clock = iter(range(0, 10_000))  # every perf_counter call one second later: each timed call takes 1/calls s
    monkeypatch.setattr(matmul_ceiling.time, "perf_counter", lambda: float(next(clock)))
    rate = matmul_ceiling.gflops_per_second(4, [(2, 3), (3, 2)], calls=2)
    assert math.isclose(rate, 3 * (2 * 4 * 2 * 3 + 2 * 4 * 3 * 2) / 0.5 / 1e9)
