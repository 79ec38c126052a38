"""Regression gating: do these runs score as well as the committed baseline?

A change fails the gate when any run collapsed, or when the mean of any of the task's
metrics falls below the baseline's floor, `FLOOR_STANDARD_ERRORS` standard errors of the
difference of two means under the baseline mean:

    floor = mean_base - 2.2 * std_base * sqrt(1/n_runs + 1/n_base)

A std estimated from a handful of seeds can come out far too small, so the gate never
assumes less seed noise than `MIN_STD` (one point). The constant sets the false-alarm rate
and the power: tests/test_gate.py simulates both through `judge` and holds them to their
targets; the README gives the measured figures. A one-sided Welch t-test's p-value is
reported beside each metric for information: with 3 runs its variance estimate is too noisy
to decide on.
Runs are compared only with a baseline of the same task, preset and recipe (`config.Recipe`);
speed options may differ.
"""

from __future__ import annotations

import math
from pathlib import Path

from glue_repro import results, schema, stats
from glue_repro.config import recipe_of
from glue_repro.errors import GlueReproError
from glue_repro.tasks import task

FLOOR_STANDARD_ERRORS = 2.2
MIN_STD = 0.01


def device_class(result: dict) -> str:
    return "gpu" if result["device"]["gpus"] else "cpu"


def default_baseline_path(result: dict) -> Path:
    """`results/baselines/<task>-<preset>-<cpu|gpu>.json`."""
    return results.BASELINES_DIR / f"{result['task']}-{result['config']['preset']}-{device_class(result)}.json"


def make_baseline(runs: list[dict]) -> dict:
    """A baseline from healthy runs of one recipe: per-seed figures, mean and std; its provenance is
    the first run's."""
    first = runs[0]
    _check_same_recipe(runs, recipe_of(first["config"]), "the first run")
    presets = sorted({r["config"]["preset"] for r in runs})
    if len(presets) > 1:
        raise GlueReproError(f"runs of presets {', '.join(presets)}: a baseline is of one preset")
    metrics = task(first["task"]).metrics
    collapsed = [r["seed"] for r in runs if r["collapsed"]]
    if collapsed:
        raise GlueReproError(f"runs with seeds {collapsed} collapsed; a baseline needs healthy runs only")
    if len(runs) < 2:
        raise GlueReproError("a baseline needs runs with at least two seeds")
    return schema.envelope("baseline") | {
        "preset": first["config"]["preset"],
        "task": first["task"],
        "device_class": device_class(first),
        "device": first["device"],
        "recipe": recipe_of(first["config"]),
        "versions": first["versions"],
        "git": first["git"],
        "seeds": [r["seed"] for r in runs],
        "per_seed": [{"seed": r["seed"], **r["metrics"]} for r in runs],
        "summary": {m: stats.summarize([r["metrics"][m] for r in runs]) for m in metrics},
    }


def _check_same_recipe(runs: list[dict], recipe: dict, against: str) -> None:
    for run in runs:
        mine = recipe_of(run["config"])
        diff = sorted(k for k in set(mine) | set(recipe) if mine.get(k) != recipe.get(k))
        if diff:
            shown = ", ".join(f"{k}: {mine.get(k)!r} vs {recipe.get(k)!r}" for k in diff)
            raise GlueReproError(f"run with seed {run['seed']} has a different recipe from {against} ({shown})")


def floor(baseline_summary: dict, n_runs: int) -> float:
    """The lowest acceptable mean of `n_runs` runs.

    >>> round(floor({"mean": 0.80, "std": 0.02, "n": 5}, 3), 4)  # 0.80 - 2.2 * 0.02 * sqrt(1/3 + 1/5)
    0.7679
    >>> round(floor({"mean": 0.80, "std": 0.001, "n": 5}, 3), 4)  # std below MIN_STD: 0.01 is used
    0.7839
    """
    se = max(baseline_summary["std"], MIN_STD) * math.sqrt(1 / n_runs + 1 / baseline_summary["n"])
    return baseline_summary["mean"] - FLOOR_STANDARD_ERRORS * se


def judge(runs: list[dict], baseline: dict) -> dict:
    """Compare runs with a baseline; the verdict says pass or fail and why."""
    for run in runs:
        if baseline["task"] != run["task"] or baseline["preset"] != run["config"]["preset"]:
            raise GlueReproError(
                f"run with seed {run['seed']} is {run['config']['preset']}/{run['task']} but the baseline is "
                f"{baseline['preset']}/{baseline['task']}: refusing to compare"
            )
    _check_same_recipe(runs, recipe_of(baseline["recipe"]), "the baseline")
    reasons = [f"seed {r['seed']} collapsed (constant predictions)" for r in runs if r["collapsed"]]
    rows = {}
    for m in baseline["summary"]:
        now = [r["metrics"][m] for r in runs]
        base = baseline["summary"][m]
        low = floor(base, len(now))
        p = stats.welch_worse_p(now, base["mean"], max(base["std"], MIN_STD), base["n"])
        mean = sum(now) / len(now)
        verdict = "pass"
        if mean < low:
            verdict = "fail"
            reasons.append(f"mean {m} {mean:.4f} is below the floor {low:.4f}")
        rows[m] = {"baseline_mean": base["mean"], "baseline_std": base["std"], "baseline_n": base["n"],
                   "mean": mean, "difference": mean - base["mean"], "floor": low, "p_value": p, "verdict": verdict}
    return {
        "passed": not reasons,
        "reasons": reasons,
        "metrics": rows,
        "seeds": [r["seed"] for r in runs],
        "collapsed_seeds": [r["seed"] for r in runs if r["collapsed"]],
        "baseline_created": baseline["created"],
    }


def read_baseline(path: Path) -> dict:
    if not Path(path).exists():
        raise GlueReproError(f"{path}: no such baseline; make one with `glue-repro baseline RUNS...`")
    return results.load(path, "baseline")


def write_verdict(verdict: dict, runs_paths: list[Path]) -> Path:
    folder = Path(runs_paths[0]).parent
    return results.write_new(schema.envelope("gate") | verdict, folder, f"gate-{results.timestamp()}")


def table(verdict: dict) -> str:
    lines = [f"{'metric':<9} {'baseline':>16} {'now':>8} {'diff':>8} {'floor':>8} {'p':>8}  verdict"]
    for m, row in verdict["metrics"].items():
        base = f"{row['baseline_mean']:.4f}+-{row['baseline_std']:.4f}"
        p = "n/a" if row["p_value"] is None else f"{row['p_value']:.4f}"
        lines.append(f"{m:<9} {base:>16} {row['mean']:>8.4f} {row['difference']:>+8.4f} {row['floor']:>8.4f} "
                     f"{p:>8}  {row['verdict']}")
    lines.append("PASS" if verdict["passed"] else "FAIL: " + "; ".join(verdict["reasons"]))
    return "\n".join(lines)
