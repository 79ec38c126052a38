"""Run one recipe over several seeds and aggregate: how much is the recipe, how much is luck."""

from __future__ import annotations

import time
from pathlib import Path

from glue_repro import pipeline, results, stats
from glue_repro.config import RecipeConfig

AGGREGATES_DIR = Path("results") / "aggregates"
METRICS = ("accuracy", "f1")


def aggregate(runs: list[dict], files: list[str] | None = None) -> dict:
    """Summaries of accuracy and F1 over the healthy runs; collapsed runs counted apart.

    A collapsed run (constant predictions) is excluded from the mean, std and interval,
    so it can never silently pull the figures down: it is reported in `collapsed_seeds`.
    """
    healthy = [r for r in runs if not r["collapsed"]]
    configs = {_recipe_key(r["config"]) for r in runs}
    return {
        "schema_version": results.SCHEMA_VERSION,
        "created": results.now(),
        "config": {k: v for k, v in runs[0]["config"].items() if k != "seed"},  # shared by all runs
        "same_recipe": len(configs) == 1,
        "seeds": [r["seed"] for r in runs],
        "num_runs": len(runs),
        "num_collapsed": len(runs) - len(healthy),
        "collapsed_seeds": [r["seed"] for r in runs if r["collapsed"]],
        "per_seed": [{"seed": r["seed"], "collapsed": r["collapsed"], **r["metrics"]} for r in runs],
        "summary": {m: stats.summarize([r["metrics"][m] for r in healthy]) for m in METRICS},
        "files": files or [],
    }


def _recipe_key(config: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in config.items() if k != "seed"))


def run_seeds(config: RecipeConfig, seeds: list[int], data_dir=None, runs_dir: Path = pipeline.RUNS_DIR,
              aggregates_dir: Path = AGGREGATES_DIR, verbose="auto") -> tuple[dict, Path]:
    """One run per seed (each keeps its own result file), then the aggregate file."""
    runs, files = [], []
    for seed in seeds:
        result, path = pipeline.run(config.replace(seed=seed), data_dir=data_dir, runs_dir=runs_dir, verbose=verbose)
        runs.append(result)
        files.append(str(path))
    summary = aggregate(runs, files)
    seeds_label = "-".join(map(str, seeds)) if len(seeds) <= 6 else f"{len(seeds)}seeds"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.preset}-seeds{seeds_label}"
    return summary, results.write_new(summary, Path(aggregates_dir), stem)


def parse_seeds(text: str) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; ranges too: '1-5' -> [1, 2, 3, 4, 5].

    >>> parse_seeds("1,2, 7-9")
    [1, 2, 7, 8, 9]
    """
    from glue_repro.errors import GlueReproError

    seeds = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise GlueReproError(f"--seeds: {part.strip()!r} is not a seed or a range like 1-5") from None
    if not seeds:
        raise GlueReproError(f"--seeds: {text!r} holds no seed")
    if len(set(seeds)) != len(seeds):
        raise GlueReproError(f"--seeds: {text!r} repeats a seed")
    return seeds
