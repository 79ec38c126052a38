"""The result file of a run: its schema, the environment it records, and a safe writer."""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TypedDict

from glue_repro.runtime import onednn_enabled

# 2: every GLUE task (task, metrics_by_split), config as preset/recipe/speed/seed;
# 3: label, model (weights' provenance), truncated;
# 4: distribution, resumed_from_epoch, logits, partial_data, command, wall_seconds
SCHEMA_VERSION = 5
VERSIONED_PACKAGES = ("tensorflow", "tf-keras", "transformers", "datasets", "evaluate", "numpy", "scikit-learn",
                      "scipy", "safetensors", "tokenizers")

# Where each kind of result goes, relative to the working directory.
RESULTS_DIR = Path("results")
RUNS_DIR = RESULTS_DIR / "runs"
AGGREGATES_DIR = RESULTS_DIR / "aggregates"
BASELINES_DIR = RESULTS_DIR / "baselines"
LR_DECAY_DIR = RESULTS_DIR / "lr_decay"


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


class Device(TypedDict):
    cpu: str  # CPU model name
    cpu_cores: int  # logical cores the process may use
    gpus: list[str]  # names of the GPUs TensorFlow sees (empty on CPU)
    onednn: bool  # TensorFlow's oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS, read at import)


class ModelSource(TypedDict):
    name: str  # as given: Hub id, folder, package:<module>/<dir> or "tiny"
    path: str | None  # the local folder read, None for a Hub id or "tiny"
    weights_sha256: dict[str, str]  # weight file name -> SHA-256 of the local files read
    revision: str | None  # the Hub commit the weights came from (None when local)
    package: str | None  # "<distribution> <version>" for a package:<module>/<dir> model


class Git(TypedDict):
    commit: str | None  # HEAD of the suite's repository, None outside a checkout
    dirty: bool | None  # uncommitted changes in the checkout


class Result(TypedDict):
    schema_version: int  # bumped on any incompatible change to this layout
    created: str  # UTC time the run finished, ISO 8601
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
    history: dict[str, list[float]]  # Keras per-epoch loss (and accuracy), train and val_
    logits_shape: list[int]  # shape of predict(validation)["logits"], e.g. [408, 2]
    logits_sha256: str  # SHA-256 of the float32 logits bytes: equal only if bit-identical
    logits: list[list[float]]  # the validation logits themselves, in dataset order: compare runs within a tolerance
    predictions: list  # class per validation row (or score, for regression), in dataset order
    timing: Timing  # fit and predict wall times and throughput
    versions: dict[str, str]  # python and the libraries that decide the numbers
    device: Device  # where it ran
    git: Git  # the suite's code version
    command: list[str] | None  # the command line that made it (None when called from Python)
    wall_seconds: float  # the whole run: loading, tokenizing, building, fitting, predicting, scoring


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


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def device() -> Device:
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(details.get("device_name", gpu.name))
    return Device(cpu=cpu_model(), cpu_cores=len(os.sched_getaffinity(0)), gpus=gpus, onednn=onednn_enabled())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_info(where: Path = Path(__file__).parent) -> Git:
    def git(*args) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return Git(commit=commit, dirty=None if status is None else bool(status))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    from glue_repro.errors import GlueReproError

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


def read(path: Path) -> dict:
    """A run's result file, in the current layout whichever schema version wrote it."""
    from glue_repro.errors import GlueReproError

    data = upgrade(read_json(path, "result file"))
    missing = [key for key in Result.__annotations__ if key not in data]
    if missing:
        raise GlueReproError(f"{path}: result file lacks field(s) {', '.join(missing)}")
    return data


def upgrade(data: dict) -> dict:
    """A result of an older schema in the current layout, unknown fields None; the file is left as it is.

    `schema_version` keeps the version that wrote it.
    """
    from glue_repro.config import from_dict

    version = data.get("schema_version")
    if version == 1:  # MRPC only, a flat config
        data = {"task": "mrpc", "metrics_by_split": {"validation": data.get("metrics")}, **data,
                "config": from_dict(data["config"]).to_dict()}
    if version in (1, 2, 3):  # early schema-1 files also lack logits_sha256 and predictions
        data = {key: None for key in Result.__annotations__} | {"label": data["config"]["preset"]} | data
    if version in (1, 2, 3, 4) and isinstance(data.get("timing"), dict):  # before MFU was measured
        data = data | {"timing": {key: None for key in Timing.__annotations__} | data["timing"]}
    return data | {"label": _label(data)} if "config" in data else data


def _label(data: dict) -> str | None:
    """The run's label by today's rule (config.RunConfig.label), so that a run stored before a rule
    existed (a mixed_bfloat16 run labelled plain `minilm`) reads as what it is; else as stored."""
    from glue_repro.config import from_dict
    from glue_repro.errors import GlueReproError

    try:
        return from_dict(data["config"]).label
    except (GlueReproError, KeyError, TypeError):
        return data.get("label")
