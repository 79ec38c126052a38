"""tools/matmul_ceiling.py: one encoder layer's products, forward and both gradients, timed alone."""

import doctest
import math

import pytest


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


def test_bad_row_counts_stop_in_one_line_naming_the_flag(monkeypatch, capsys):
    from tools import matmul_ceiling

    for rows in ("3,x", "0"):
        monkeypatch.setattr("sys.argv", ["matmul_ceiling.py", "--rows", rows])
        with pytest.raises(SystemExit) as stop:
            matmul_ceiling.main()
        assert stop.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"matmul_ceiling.py: error: argument --rows: invalid row_counts value: '{rows}'")
