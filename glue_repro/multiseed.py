"""Run one recipe over several seeds and aggregate: how much is the recipe, how much is luck."""

from __future__ import annotations

import os
from pathlib import Path

from glue_repro import results, schema, stats
from glue_repro.config import RunConfig, recipe_of


def aggregate(runs: list[dict], files: list[str] | None = None) -> dict:
    """Summaries of the task's metrics over the healthy runs; collapsed runs counted apart.

    A collapsed run (constant predictions) is excluded from the mean, std and interval,
    so it can never silently pull the figures down: it is reported in `collapsed_seeds`.
    """
    healthy = [r for r in runs if not r["collapsed"]]
    recipes = {repr(sorted(recipe_of(r["config"]).items())) for r in runs}
    metrics = list(runs[0]["metrics"])
    return {
        "task": runs[0]["task"],
        "config": {k: v for k, v in runs[0]["config"].items() if k != "seed"},  # the first run's, seed aside
        "same_recipe": len(recipes) == 1,
        "seeds": [r["seed"] for r in runs],
        "num_runs": len(runs),
        "num_collapsed": len(runs) - len(healthy),
        "collapsed_seeds": [r["seed"] for r in runs if r["collapsed"]],
        "per_seed": [{"seed": r["seed"], "collapsed": r["collapsed"], **r["metrics"]} for r in runs],
        "summary": {m: stats.summarize([r["metrics"][m] for r in healthy]) for m in metrics},
        "files": files or [],
    }


def run_seeds(config: RunConfig, seeds: list[int], data_dir=None, runs_dir: Path = results.RUNS_DIR,
              aggregates_dir: Path = results.AGGREGATES_DIR, verbose="auto", resume: bool = False,
              log=print, command: list[str] | None = None) -> tuple[dict, Path]:
    """One run per seed (each keeps its own result file), then the aggregate file.

    With `resume`, a seed that already has a result of the same recipe in `runs_dir` is not run
    again, collapsed or not (running a collapsed seed again would repeat it or, where runs are not
    bit-stable, pick a luckier one). Interrupted, it raises KeyboardInterrupt with `finished`: the
    (seed, path) of every result written so far.
    """
    from glue_repro.run import run

    done = finished_runs(config, runs_dir) if resume else {}
    finished = []
    try:
        for k, seed in enumerate(seeds, start=1):
            if seed in done:
                result, path = done[seed]
                log(f"seed {seed} ({k}/{len(seeds)}): reusing {path}")
            else:
                log(f"seed {seed} ({k}/{len(seeds)})")
                result, path = run(config.replace(seed=seed), data_dir=data_dir, runs_dir=runs_dir, verbose=verbose,
                                   command=command)
            finished.append((seed, path, result))
    except KeyboardInterrupt as interrupt:
        interrupt.finished = [(seed, path) for seed, path, _ in finished]
        raise
    return write_aggregate([result for _, _, result in finished], [path for _, path, _ in finished],
                           Path(aggregates_dir))


def write_aggregate(runs: list[dict], paths: list[Path], aggregates_dir: Path) -> tuple[dict, Path]:
    """The aggregate of these runs, written beside the others; it lists them relative to itself."""
    from glue_repro.errors import GlueReproError

    if len({(r["task"], r["label"]) for r in runs}) > 1:
        raise GlueReproError("runs of several tasks or presets: aggregate each apart")
    summary = schema.envelope("aggregate") | aggregate(runs, [os.path.relpath(path, aggregates_dir) for path in paths])
    seeds = [r["seed"] for r in runs]
    seeds_label = "-".join(map(str, seeds)) if len(seeds) <= 6 else f"{len(seeds)}seeds"
    stem = results.stem(runs[0]["task"], runs[0]["label"], f"seeds{seeds_label}")
    return summary, results.write_new(summary, aggregates_dir, stem)


def finished_runs(config: RunConfig, runs_dir: Path) -> dict[int, tuple[dict, Path]]:
    """Results in `runs_dir` of this preset and recipe, collapsed ones too, by seed (the newest of each)."""
    from glue_repro.errors import GlueReproError

    recipe, found = recipe_of(config.to_dict()), {}
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            result = results.load(path)
        except GlueReproError:
            continue  # unreadable: not this recipe's result
        if result["kind"] != "run":
            continue  # a gate verdict, say
        same = result["config"]["preset"] == config.preset and recipe_of(result["config"]) == recipe
        if same:
            found[result["seed"]] = (result, path)
    return found
