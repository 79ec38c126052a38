import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from glue_repro import stats

KEYS = ["n", "mean", "std", "ci95_low", "ci95_high", "min", "max"]


def test_summaries_of_no_value_and_one_value():
    assert stats.summarize([]) == dict.fromkeys(KEYS) | {"n": 0}
    assert stats.summarize([0.5]) == {"n": 1, "mean": 0.5, "std": None, "ci95_low": None, "ci95_high": None,
                                      "min": 0.5, "max": 0.5}


def test_two_values_already_have_an_interval():
    s = stats.summarize([0.80, 0.84])
    half = 12.706204736 * math.sqrt(0.0008) / math.sqrt(2)  # t(0.975, 1) * std / sqrt(n)
    assert list(s) == KEYS and s["n"] == 2
    assert s["std"] == pytest.approx(math.sqrt(0.0008))
    assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((0.82 - half, 0.82 + half), abs=1e-9)


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=30))
@settings(max_examples=100, deadline=None)
def test_summary_against_its_definition(values):
    s = stats.summarize(values)
    n, mean = len(values), sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = scipy_stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    assert s["n"] == n and s["mean"] == pytest.approx(mean, abs=1e-12) and s["std"] == pytest.approx(std, abs=1e-9)
    assert s["ci95_low"] == pytest.approx(mean - half, abs=1e-9)
    assert s["ci95_high"] == pytest.approx(mean + half, abs=1e-9)
    assert (s["min"], s["max"]) == (min(values), max(values))
    assert all(type(v) is float for k, v in s.items() if k != "n")  # JSON-safe


def test_welch_p_value_against_its_definition():
    now, base_mean, base_std, base_n = [0.78, 0.80, 0.79], 0.81, 0.012, 5
    m = sum(now) / 3
    s2 = sum((x - m) ** 2 for x in now) / 2
    a, b = s2 / 3, base_std ** 2 / base_n
    t = (m - base_mean) / math.sqrt(a + b)
    df = (a + b) ** 2 / (a ** 2 / 2 + b ** 2 / (base_n - 1))  # Welch-Satterthwaite
    assert stats.welch_worse_p(now, base_mean, base_std, base_n) == pytest.approx(scipy_stats.t.cdf(t, df), rel=1e-9)


def test_welch_needs_two_values_on_each_side_and_a_spread():
    assert stats.welch_worse_p([0.8], 0.8, 0.01, 5) is None
    assert stats.welch_worse_p([0.8, 0.81], 0.8, 0.01, 1) is None
    assert stats.welch_worse_p([0.8, 0.81], 0.8, 0.01, 2) is not None
    assert stats.welch_worse_p([0.8, 0.8], 0.8, 0.0, 5) is None  # no spread at all: undefined, not NaN
