"""Statistics over seeds: summaries with confidence intervals, and Welch's t-test.

Small pure functions; every float they return is a plain Python float (JSON-safe).
"""

from __future__ import annotations

import math

import numpy as np


def summarize(values) -> dict[str, float | int | None]:
    """Mean, sample std, 95% t-interval of the mean, min and max.

    With one value the std and interval are undefined (None).

    >>> s = summarize([0.80, 0.82, 0.84])
    >>> round(s["mean"], 4), round(s["std"], 4), round(s["ci95_low"], 4), round(s["ci95_high"], 4)
    (0.82, 0.02, 0.7703, 0.8697)
    >>> summarize([0.5])["std"] is None
    True
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95_low": None, "ci95_high": None, "min": None, "max": None}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else None
    from scipy import stats as scipy_stats  # here: scipy.stats takes about a second to import

    half = float(scipy_stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else None
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci95_low": None if half is None else mean - half,
        "ci95_high": None if half is None else mean + half,
        "min": float(x.min()),
        "max": float(x.max()),
    }


def welch_worse_p(now, baseline_mean: float, baseline_std: float, baseline_n: int) -> float | None:
    """One-sided Welch t-test p-value for "the runs `now` score lower than the baseline".

    Uses only the baseline's summary (mean, std, n), as stored in a baseline file.
    None when either side has fewer than two values.

    >>> round(welch_worse_p([0.70, 0.71, 0.69], 0.80, 0.01, 5), 6) < 0.001
    True
    >>> welch_worse_p([0.80, 0.81, 0.79], 0.80, 0.01, 5) > 0.4
    True
    """
    x = np.asarray(now, dtype=float)
    if len(x) < 2 or baseline_n < 2:
        return None
    from scipy import stats as scipy_stats

    result = scipy_stats.ttest_ind_from_stats(
        mean1=float(x.mean()), std1=float(x.std(ddof=1)), nobs1=len(x),
        mean2=baseline_mean, std2=baseline_std, nobs2=baseline_n,
        equal_var=False, alternative="less",
    )
    p = float(result.pvalue)
    return None if math.isnan(p) else p
