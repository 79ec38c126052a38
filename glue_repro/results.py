"""Every file the suite writes: one envelope, the typed records inside it, one reader, a safe writer.

Each file is a JSON object whose envelope says what it is (`kind`), which layout wrote it
(`schema_version`), when (`created`) and from what (`git`, `versions`, `device`: see
environment.py). `load` reads any of them, older layouts included, into today's layout.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from glue_repro.environment import Device, Git, git_info, now, provenance  # noqa: F401  (Device, Git: the schema)
from glue_repro.errors import GlueReproError

# 2: every GLUE task (task, metrics_by_split), config as preset/recipe/speed/seed;
# 3: label, model (weights' provenance), truncated;
# 4: distribution, resumed_from_epoch, logits, partial_data, command, wall_seconds; 5: MFU in timing;
# 6: the envelope (kind, provenance) on every file; collapse_level
SCHEMA_VERSION = 6
KINDS = ("run", "aggregate", "baseline", "gate", "lr-decay")  # what the suite writes
FOREIGN_KINDS = ("benchmark", "peer")  # written by pytest-benchmark and the PyTorch peer, read as they are

# Where each kind of result goes, relative to the working directory.
RESULTS_DIR = Path("results")
RUNS_DIR = RESULTS_DIR / "runs"
AGGREGATES_DIR = RESULTS_DIR / "aggregates"
BASELINES_DIR = RESULTS_DIR / "baselines"
LR_DECAY_DIR = RESULTS_DIR / "lr_decay"


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


def json_safe(value):
    """Replace NaN and infinities (not JSON) with None, recursively.

    >>> json_safe({"a": float("nan"), "b": [1.0, float("inf")]})
    {'a': None, 'b': [1.0, None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def timestamp() -> str:
    """Local time as it starts every result file's name: YYYYmmdd-HHMMSS."""
    return time.strftime("%Y%m%d-%H%M%S")


def stem(*parts: str) -> str:
    """A result file's name without `.json`: the time, then the parts.

    >>> stem("mrpc", "minilm", "seed42")[15:]
    '-mrpc-minilm-seed42'
    """
    return "-".join([timestamp(), *parts])


def run_stem(config) -> str:
    return stem(config.recipe.task, config.label, f"seed{config.seed}")


def read_json(path: Path, what: str) -> dict:
    """A JSON object from a file, or a GlueReproError naming the file and `what` it should be."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GlueReproError(f"{path}: no such file (expected {what})") from None
    except (OSError, json.JSONDecodeError) as err:
        raise GlueReproError(f"{path}: not a readable {what} ({err})") from err
    if not isinstance(data, dict):
        raise GlueReproError(f"{path}: not a readable {what} (not a JSON object)")
    return data


def check_writable(folder: Path) -> str | None:
    """Why results could not be written into `folder` (made if missing), or None if they can.

    Tried with a temporary file in the folder, or in the nearest folder above it that exists.
    """
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return "exists and is not a folder" if existing == Path(folder).absolute() else f"{existing} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"cannot write in {existing} ({err.strerror or err})"
    return None


def unsaved_dirs() -> list[Path]:
    """Where a result goes when its own folder cannot take it: the cache's unsaved/, else the temp folder."""
    from glue_repro.parts import cache_root

    return [cache_root() / "unsaved", Path(tempfile.gettempdir()) / "glue_repro-unsaved"]


def write_new(data: dict, folder: Path, stem: str) -> Path:
    """Write `data` as a new file `folder/stem[-N].json` (see `_write_new`); nothing computed is lost.

    If the folder cannot take it (permissions, a full disk), the file goes to the first of
    `unsaved_dirs()` that can, and one line on stderr says where.
    """
    try:
        return _write_new(data, folder, stem)
    except OSError as err:
        failure = err
    for fallback in unsaved_dirs():
        try:
            path = _write_new(data, fallback, stem)
        except OSError:
            continue
        print(f"glue-repro: could not write {stem}.json into {folder} ({failure.strerror or failure}); "
              f"saved it as {path}", file=sys.stderr)
        return path
    raise failure


def _write_new(data: dict, folder: Path, stem: str) -> Path:
    """Write `data` as JSON to a new file `folder/stem[-N].json`, atomically.

    The file appears whole or not at all (written to a temporary file, then hard-linked
    into place), and an existing file is never replaced: a taken name gets a -2, -3 suffix.
    Where the file system has no hard links, the file is created exclusively and written
    in place; a failed write then removes only the file it created.
    """
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(data), indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for path in _free_names(folder, stem):
            try:
                os.link(tmp, path)  # fails if the name exists: never overwrite
                return path
            except FileExistsError:
                continue
            except OSError:  # no hard links here (some network and FAT file systems)
                return _write_exclusive(text, folder, stem)
        raise FileExistsError(f"{folder}: no free name for {stem}")
    finally:
        os.unlink(tmp)


def _free_names(folder: Path, stem: str):
    for n in range(1, 10_000):
        yield folder / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")


def _write_exclusive(text: str, folder: Path, stem: str) -> Path:
    """Create the first free name exclusively and write it; never replaces a file."""
    for path in _free_names(folder, stem):
        try:
            f = open(path, "x")
        except FileExistsError:
            continue
        try:
            with f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            path.unlink()
            raise
        return path
    raise FileExistsError(f"{folder}: no free name for {stem}")


def load(path: Path, expect: str | None = None) -> dict:
    """Any file the suite reads, in today's layout whichever schema version wrote it; `kind` says
    what it is. With `expect`, a file of another kind is a GlueReproError naming both."""
    data = read_json(path, f"{expect or 'result'} file")
    kind = data.get("kind") or kind_by_keys(data)
    if kind is None:
        raise GlueReproError(f"{path}: not a result file of this suite (no kind, and none of the known layouts)")
    if expect and kind != expect:
        raise GlueReproError(f"{path}: a {kind} file, not a {expect} file")
    if kind in FOREIGN_KINDS:
        return data | {"kind": kind}
    data = UPGRADES.get(kind, _as_is)(data | {"kind": kind})
    missing = [key for key in RECORDS[kind].__annotations__ if key not in data]
    if missing:
        raise GlueReproError(f"{path}: {kind} file lacks field(s) {', '.join(missing)}")
    return data


def read(path: Path) -> Result:
    """A run's result file (see `load`)."""
    return load(path, "run")


def kind_by_keys(data: dict) -> str | None:
    """What a file written before files said their kind (schema < 6) is, from its keys.

    >>> kind_by_keys({"config": {}, "metrics": {}}), kind_by_keys({"files": [], "per_seed": []})
    ('run', 'aggregate')
    """
    layouts = [
        ("benchmark", ("benchmarks", "machine_info")), ("peer", ("torch", "fit_examples_per_second")),
        ("lr-decay", ("experiment", "runs")), ("baseline", ("device_class", "per_seed")),
        ("aggregate", ("files", "per_seed")), ("gate", ("reasons", "passed")), ("run", ("config", "metrics")),
    ]
    return next((kind for kind, keys in layouts if all(key in data for key in keys)), None)


def listed_runs(aggregate_path: Path, aggregate: dict) -> list[Path]:
    """The run files an aggregate lists: relative to its folder (before 2026-11-26: to the working directory)."""
    def where(name: str) -> Path:
        beside = Path(aggregate_path).parent / name
        return beside if beside.exists() or Path(name).is_absolute() else Path(name)

    return [where(name) for name in aggregate["files"]]


def _as_is(data: dict) -> dict:
    """Envelope fields a file predates (schema < 6: only runs and lr-decay files had them) as None."""
    return dict.fromkeys(Envelope.__annotations__) | data


def upgrade_run(data: dict) -> dict:
    """A run of an older schema in the current layout, unknown fields None; `schema_version` keeps the
    version that wrote it, and the label follows today's rule."""
    from glue_repro.config import from_dict

    version = data.get("schema_version")
    if version == 1:  # MRPC only, a flat config
        data = {"task": "mrpc", "metrics_by_split": {"validation": data.get("metrics")}, **data,
                "config": from_dict(data["config"]).to_dict()}
    if version in (1, 2, 3, 4, 5):  # early schema-1 files also lack logits_sha256 and predictions
        data = dict.fromkeys(Result.__annotations__) | {"label": data["config"]["preset"]} | data
    if version in (1, 2, 3, 4) and isinstance(data.get("timing"), dict):  # before MFU was measured
        data = data | {"timing": dict.fromkeys(Timing.__annotations__) | data["timing"]}
    return data | {"label": _label(data)}


def _label(data: dict) -> str | None:
    """The run's label by today's rule (config.RunConfig.label), so that a run stored before a rule
    existed (a mixed_bfloat16 run labelled plain `minilm`) reads as what it is; else as stored."""
    from glue_repro.config import from_dict

    try:
        return from_dict(data["config"]).label
    except (GlueReproError, KeyError, TypeError):
        return data.get("label")


def _upgrade_lr_decay(data: dict) -> dict:
    """Before schema 2 an lr-decay file was MRPC's, judged on accuracy alone."""
    old = {"task": "mrpc", "target_metric": "accuracy", "target": data["experiment"].get("accuracy_target"),
           "loss_target": None, "steps_to_target": data.get("steps_to_accuracy_target"),
           "steps_to_loss_target": None}
    return _as_is({key: value for key, value in old.items() if key not in data} | data)


def _upgrade_aggregate(data: dict) -> dict:
    """Schema-1 aggregates were MRPC's and named no task."""
    return _as_is({"task": "mrpc"} | data)


UPGRADES = {"run": upgrade_run, "lr-decay": _upgrade_lr_decay, "aggregate": _upgrade_aggregate}
RECORDS = {"run": Result, "aggregate": Aggregate, "baseline": Baseline, "gate": Verdict, "lr-decay": LrDecay}
