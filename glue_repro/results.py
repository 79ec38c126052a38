"""Result files: where each kind goes, one reader for every layout ever written, a safe writer.

`load` reads any file the suite has written (schema.py says what each kind holds), older
layouts included, into today's layout; `write_new` never replaces a file and never leaves half
of one.
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

from glue_repro.errors import GlueReproError
from glue_repro.schema import (
    FOREIGN_KINDS,
    Aggregate,
    Baseline,
    Envelope,
    LrDecay,
    Result,
    Timing,
    Verdict,
)

# Where each kind of result goes, relative to the working directory.
RESULTS_DIR = Path("results")
RUNS_DIR = RESULTS_DIR / "runs"
AGGREGATES_DIR = RESULTS_DIR / "aggregates"
BASELINES_DIR = RESULTS_DIR / "baselines"
LR_DECAY_DIR = RESULTS_DIR / "lr_decay"


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
    kind = kind_of(data)
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


def read_runs(paths: list[str], log=print) -> tuple[list[dict], list[Path]]:
    """Run files, folders of them and aggregates (expanded into the runs they list), as the commands that
    judge runs read them: one run per seed, the newest; `log` says which were left out."""
    runs, files = [], []
    expanded = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = [p for p in sorted(path.glob("*.json")) if _is_run(p)]  # not the gate's verdicts beside them
            if not found:
                raise GlueReproError(f"{path}: no result files in this folder")
            expanded.extend(found)
        else:
            expanded.append(path)
    for path in expanded:
        data = load(path)
        if data["kind"] not in ("run", "aggregate"):
            raise GlueReproError(f"{path}: a {data['kind']} file, not a run or an aggregate of runs")
        for file in listed_runs(path, data) if data["kind"] == "aggregate" else [path]:
            runs.append(read(file))
            files.append(file)
    return newest_per_seed(runs, files, log)


def _is_run(path: Path) -> bool:
    try:
        return kind_of(json.loads(Path(path).read_text())) == "run"
    except (OSError, ValueError, AttributeError):
        return True  # read again below, where the error names the file


def newest_per_seed(runs: list[dict], files: list[Path], log=print) -> tuple[list[dict], list[Path]]:
    """Repeated runs of one seed are one sample: keep the newest of each, and say which were left out."""
    newest = {}
    for i in sorted(range(len(runs)), key=lambda i: runs[i]["created"] or ""):
        run, file = runs[i], files[i]
        key = (run["task"], run["label"], run["seed"])
        if key in newest and newest[key][1] != file:
            log(f"seed {run['seed']}: {newest[key][1]} left out, {file} is newer")
        newest[key] = (run, file)
    kept = sorted(newest.values(), key=lambda pair: pair[0]["seed"])
    return [run for run, _ in kept], [file for _, file in kept]


def kind_of(data: dict) -> str | None:
    """What a file is: its `kind`, or for a file older than kinds, what its keys say."""
    return data.get("kind") or kind_by_keys(data)


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
    if version in (1, 2, 3, 4, 5, 6):  # 6 lacks cell; early schema-1 files, logits_sha256 and predictions
        data = dict.fromkeys(Result.__annotations__) | {"label": data["config"]["preset"]} | data
    if version in (1, 2, 3, 4) and isinstance(data.get("timing"), dict):  # before MFU was measured
        data = data | {"timing": dict.fromkeys(Timing.__annotations__) | data["timing"]}
    if isinstance(data.get("device"), dict) and version in (1, 2, 3, 4, 5, 6, 7):  # before the CPU's id and units
        data = data | {"device": {"cpu_id": None, "vector_units": None} | data["device"]}
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
