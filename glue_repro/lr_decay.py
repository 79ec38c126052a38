"""The course's claim, measured: Adam with polynomial LR decay fine-tunes faster and better.

Three arms train with the same seeds, data order and step budget:
(a) Adam at the Keras default constant 1e-3, (b) Adam at constant 5e-5,
(c) Adam with `PolynomialDecay(5e-5 -> 0)`. Each records the training loss of every step
and the validation loss and task metrics every `eval_every` steps; the speedup of (c) over
a constant arm is that arm's steps-to-target (on the task's primary metric) divided by (c)'s.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tf_keras

from glue_repro import results, schema, stats
from glue_repro.config import Experiment
from glue_repro.run import evaluate, prepare
from glue_repro.tasks import TaskSpec, task

ARMS = {
    "adam-constant-1e-3": {"schedule": "constant", "learning_rate": 1e-3},
    "adam-constant-5e-5": {"schedule": "constant", "learning_rate": 5e-5},
    "adam-decay-5e-5": {"schedule": "polynomial", "learning_rate": 5e-5},
}
DECAY_ARM = "adam-decay-5e-5"


class Curves(tf_keras.callbacks.Callback):
    """Per-step training loss, and validation loss and task metrics every `every` steps.

    Args:
        score: predicts the validation split and returns its loss and metrics (run.evaluate).
    """

    def __init__(self, score, every: int):
        super().__init__()
        self.score, self.every = score, every
        self.step, self.train_loss, self.evals = 0, [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train_loss.append(float(logs["batch_loss"]))  # this step's own loss (train.BatchLoss)
        self.step += 1
        if self.step % self.every == 0:
            self.evaluate()

    def on_train_end(self, logs=None):
        if not self.evals or self.evals[-1]["step"] != self.step:
            self.evaluate()

    def evaluate(self):
        self.evals.append({"step": self.step, **self.score()})


def first_step(evals: list[dict], key: str, target: float, higher_is_better: bool) -> int | None:
    """The first evaluated step that reaches the target, None if none does.

    >>> first_step([{"step": 10, "accuracy": 0.7}, {"step": 20, "accuracy": 0.8}], "accuracy", 0.75, True)
    20
    >>> first_step([{"step": 5, "accuracy": 0.7}], "accuracy", 0.7, True)  # reaching it exactly counts
    5
    >>> first_step([{"step": 5, "loss": 0.5}], "loss", 0.5, False)
    5
    """
    for point in evals:
        if (point[key] >= target) if higher_is_better else (point[key] <= target):
            return point["step"]
    return None


def targets(experiment: Experiment, spec: TaskSpec) -> tuple[str, float, float | None]:
    """The primary metric, its target, and the loss target: the experiment's, else the task's."""
    target = spec.lr_decay_target if experiment.target is None else experiment.target
    loss_target = spec.lr_decay_loss_target if experiment.loss_target is None else experiment.loss_target
    return spec.primary_metric, target, loss_target


def train_arm(experiment: Experiment, arm: str, seed: int, data_dir=None, verbose=0) -> dict:
    # Each arm builds a fresh model, so predict's XLA compiles (one per validation batch shape)
    # would not pay back over a short arm's few validation passes.
    config = experiment.config.replace(seed=seed, epochs=experiment.epochs, train_rows=experiment.train_rows,
                                       xla_predict=False, **ARMS[arm])
    p = prepare(config, data_dir, batch_loss=True)
    primary, target, loss_target = targets(experiment, p.spec)
    curves = Curves(lambda: evaluate(p, p.spec.validation_splits[0]).scores, experiment.eval_every)
    start = time.perf_counter()
    p.classifier.fit(p.inputs.train, epochs=config.recipe.epochs, steps_per_epoch=p.inputs.fit_steps(),
                     callbacks=[curves], verbose=verbose)
    final = curves.evals[-1]
    return {
        "arm": arm,
        "seed": seed,
        "config": config.to_dict(),
        "seconds": time.perf_counter() - start,
        "steps": curves.step,
        "final": {k: final[k] for k in ("loss", *p.spec.metrics)},
        "steps_to_target": first_step(curves.evals, primary, target, True),
        "steps_to_loss": None if loss_target is None else first_step(curves.evals, "loss", loss_target, False),
        "train_loss": curves.train_loss,
        "evals": curves.evals,
    }


def speedups(runs: list[dict], key: str) -> dict:
    """Mean steps-to-target per arm over seeds, and each constant arm's ratio to the decay arm.

    An arm that misses the target in some seed is reported with the seeds it missed;
    its ratio is then a lower bound (the step budget stands in for the missed seeds).
    """
    out = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        reached = [r[key] for r in mine if r[key] is not None]
        missed = [r["seed"] for r in mine if r[key] is None]
        budget_filled = [r[key] if r[key] is not None else r["steps"] for r in mine]
        out[arm] = {"mean_steps": float(np.mean(reached)) if reached else None, "reached": len(reached),
                    "missed_seeds": missed, "mean_steps_budget_for_missed": float(np.mean(budget_filled))}
    decay = out[DECAY_ARM]
    for arm, row in out.items():
        if arm == DECAY_ARM or not decay["mean_steps"] or decay["missed_seeds"]:
            row["speedup_of_decay"] = None
            continue
        ratio = row["mean_steps_budget_for_missed"] / decay["mean_steps"]
        row["speedup_of_decay"] = ratio
        row["speedup_is_lower_bound"] = bool(row["missed_seeds"])
    return out


def run(experiment: Experiment, data_dir=None, out_dir: Path = results.LR_DECAY_DIR, verbose=0,
        log=print) -> tuple[dict, Path]:
    spec = task(experiment.config.recipe.task)
    primary, target, loss_target = targets(experiment, spec)
    runs = []
    for seed in experiment.seeds:
        for arm in ARMS:
            result = train_arm(experiment, arm, seed, data_dir, verbose)
            shown = " ".join(f"{m} {v:.4f}" for m, v in result["final"].items())
            log(f"seed {seed} {arm:<20} {shown} steps-to-target {result['steps_to_target']} "
                f"({result['seconds']:.0f} s)")
            runs.append(result)
    summary = {
        arm: {m: stats.summarize([r["final"][m] for r in runs if r["arm"] == arm]) for m in (*spec.metrics, "loss")}
        for arm in ARMS
    }
    report = schema.envelope("lr-decay") | {
        "task": spec.name,
        "experiment": asdict(experiment),
        "target_metric": primary,
        "target": target,
        "loss_target": loss_target,
        "final": summary,
        "steps_to_target": speedups(runs, "steps_to_target"),
        "steps_to_loss_target": speedups(runs, "steps_to_loss"),
        "runs": runs,
    }
    stem = results.stem(spec.name, experiment.config.preset, "lr-decay")
    return report, results.write_new(report, Path(out_dir), stem)
