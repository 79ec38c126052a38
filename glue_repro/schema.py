"""What every file the suite writes holds: the envelope and one typed record per kind.

Each file is a JSON object whose envelope says what it is (`kind`), which layout wrote it
(`schema_version`), when (`created`) and from what (`git`, `versions`, `device`: see
environment.py). results.py reads and writes them.
"""

from __future__ import annotations

from typing import TypedDict

from glue_repro.environment import Device, Git, now, provenance

# 2: every GLUE task (task, metrics_by_split), config as preset/recipe/speed/seed;
# 3: label, model (weights' provenance), truncated;
# 4: distribution, resumed_from_epoch, logits, partial_data, command, wall_seconds; 5: MFU in timing;
# 6: the envelope (kind, provenance) on every file; collapse_level; 7: cell (a sweep's);
# 8: device.cpu_id and device.vector_units
SCHEMA_VERSION = 8
KINDS = ("run", "aggregate", "baseline", "gate", "lr-decay")  # what the suite writes
FOREIGN_KINDS = ("benchmark", "peer")  # written by pytest-benchmark and the PyTorch peer, read as they are


class Envelope(TypedDict):
    kind: str  # one of KINDS
    schema_version: int  # the layout that wrote the file; bumped on any incompatible change
    created: str  # UTC time the file was made, ISO 8601
    git: Git  # the suite's code version
    versions: dict[str, str]  # python and the libraries that decide the numbers
    device: Device  # where it ran


def envelope(kind: str) -> Envelope:
    """The envelope of a new file of this kind, made now, here."""
    return Envelope(kind=kind, schema_version=SCHEMA_VERSION, created=now(), **provenance())


class Timing(TypedDict):
    fit_seconds: float  # wall time of model.fit (tracing, training steps, validation passes)
    fit_examples_per_second: float  # training examples seen / fit_seconds
    epoch_seconds: list[float]  # wall time of each epoch, validation pass included
    predict_seconds: float  # wall time of model.predict over validation
    predict_examples_per_second: float  # validation examples / predict_seconds
    peak_gflops: float | None  # a large matmul's GFLOP/s on the run's device: the best measured in its process
    fit_gflops_per_second: float | None  # flops.py count of the work done: training + validation / fit_seconds
    predict_gflops_per_second: float | None  # flops.py's forward count over validation / predict_seconds
    fit_mfu: float | None  # fit_gflops_per_second / peak_gflops
    predict_mfu: float | None  # predict_gflops_per_second / peak_gflops


class ModelSource(TypedDict):
    name: str  # as given: Hub id, folder, package:<module>/<dir> or "tiny"
    path: str | None  # the local folder read, None for a Hub id or "tiny"
    weights_sha256: dict[str, str]  # weight file name -> SHA-256 of the local files read
    revision: str | None  # the Hub commit the weights came from (None when local)
    package: str | None  # "<distribution> <version>" for a package:<module>/<dir> model


class Cell(TypedDict):
    sweep: str  # the sweep's id: when its driver started, and the resumes that finished it keep it
    node_id: str  # the Ray node that ran it
    node_ip: str  # that node's address
    hostname: str  # and its host name
    attempts: int  # tries it took: 1, or more when a worker process or node was lost
    lost: list[str]  # what was lost on each failed try, one line each
    workers_at: list[str] | None  # a multi-worker cell: its workers' addresses in the TF_CONFIG Ray Train set


class Result(Envelope):
    """kind "run": one fine-tuning run."""

    task: str  # the GLUE task (tasks.TASKS), also in config.recipe
    label: str  # the preset's name, or <preset>+<model> when --model replaced the preset's model
    config: dict  # the full RunConfig of the run: preset, recipe, speed, seed
    model: ModelSource  # what was learned from: the weights' checksums, Hub revision or package version
    seed: int  # the seed of Python, numpy and TensorFlow (also in config)
    deterministic: bool  # whether TF op determinism was on
    distribution: dict  # distribute.Placement: strategy, replicas, workers, global and per-replica batch
    resumed_from_epoch: int | None  # with --backup-dir: the epoch training resumed at (0: from the start)
    data: dict  # DataSource: Hub repo and revision, or local folder with file checksums
    num_examples: dict[str, int]  # rows per split actually used (after --limit)
    partial_data: bool  # --limit cut the splits: not comparable with full runs
    truncated: dict[str, int]  # rows per split cut to the maximum length by the tokenizer
    metrics: dict[str, float]  # the task's GLUE metric on its (first) validation split
    metrics_by_split: dict[str, dict[str, float]]  # the same for every validation split (MNLI has two)
    collapsed: bool  # constant predictions: one class for every row, or near-constant scores
    collapse_level: dict[str, float] | None  # what the majority class for every row scores (None: regression)
    history: dict[str, list[float]]  # Keras per-epoch loss (and accuracy), train and val_
    logits_shape: list[int]  # shape of predict(validation)["logits"], e.g. [408, 2]
    logits_sha256: str  # SHA-256 of the float32 logits bytes: equal only if bit-identical
    logits: list[list[float]]  # the validation logits themselves, in dataset order: compare runs within a tolerance
    predictions: list  # class per validation row (or score, for regression), in dataset order
    timing: Timing  # fit and predict wall times and throughput
    command: list[str] | None  # the command line that made it (None when called from Python)
    cell: Cell | None  # how a sweep ran it (None: not in a sweep)
    wall_seconds: float  # the whole run: loading, tokenizing, building, fitting, predicting, scoring


class Aggregate(Envelope):
    """kind "aggregate": one recipe's runs over several seeds."""

    task: str  # the GLUE task
    config: dict  # the first run's RunConfig, seed aside
    same_recipe: bool  # every run has the first run's recipe
    seeds: list[int]  # the runs' seeds, in order
    num_runs: int  # runs aggregated
    num_collapsed: int  # of them collapsed (left out of the summary)
    collapsed_seeds: list[int]  # their seeds
    per_seed: list[dict]  # seed, collapsed, and the task's metrics, per run
    summary: dict[str, dict]  # metric -> stats.summarize over the healthy runs (mean, std, 95% CI, min, max, n)
    files: list[str]  # the runs' files, relative to the aggregate's folder


class Baseline(Envelope):
    """kind "baseline": what the gate compares runs with. Its git, versions and device are its runs'."""

    preset: str  # the runs' preset
    task: str  # and task
    device_class: str  # "cpu" or "gpu": baselines are per class
    recipe: dict  # the runs' shared recipe (config.Recipe, every field)
    seeds: list[int]  # the runs' seeds
    per_seed: list[dict]  # seed and the task's metrics, per run
    summary: dict[str, dict]  # metric -> stats.summarize over the runs


class Verdict(Envelope):
    """kind "gate": one gate decision, written beside the runs it judged."""

    passed: bool  # no run collapsed and every metric's mean at or above its floor
    reasons: list[str]  # why it failed, one line each (empty when passed)
    metrics: dict[str, dict]  # metric -> baseline mean/std/n, mean, difference, floor, p_value, verdict
    seeds: list[int]  # the judged runs' seeds
    collapsed_seeds: list[int]  # those that collapsed
    baseline_created: str  # when the baseline was made
    baseline: str  # its file
    runs: list[str]  # the judged runs' files


class LrDecay(Envelope):
    """kind "lr-decay": the three Adam arms of `glue-repro lr-decay`."""

    task: str  # the GLUE task
    experiment: dict  # config.Experiment: preset, seeds, rows, epochs, evaluation interval, targets
    target_metric: str  # the task's primary metric
    target: float  # its value to reach
    loss_target: float | None  # the validation loss to reach (None: not measured)
    final: dict[str, dict]  # arm -> metric -> stats.summarize over seeds, at the end of training
    steps_to_target: dict[str, dict]  # arm -> mean steps to the target, seeds that missed it, speedup of decay
    steps_to_loss_target: dict[str, dict]  # the same for the loss target
    runs: list[dict]  # each arm and seed: per-step training loss, evaluations, steps to each target
