"""A GLUE task as a `datasets.DatasetDict` with the Hub's schema, from the Hub or a local folder.

The local path reads GLUE's own files (`{train,dev,test}.tsv` under the task's folder) with the
rules of the Hub's `nyu-mll/glue` builder: `idx` is the row's position in its file, a label
that is not a class name is read as the class index, and a file without the label column
(GLUE's test files) gets label -1. For MRPC it reads the raw files the Hub's builder reads
(`msr_paraphrase_{train,test}.txt` and `dev_ids.tsv`: train is the train file minus the dev
ids, validation the dev ids) when they are there.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from glue_repro.errors import GlueReproError
from glue_repro.tasks import COURSE_TASK, TASKS, LocalFiles, TaskSpec, task

HUB_REPO = "nyu-mll/glue"
HUB_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"  # pinned for reproducibility
MSR_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt", "dev_ids": "dev_ids.tsv"}
MSR_COLUMNS = {"label": "Quality", "id1": "#1 ID", "id2": "#2 ID", "sentence1": "#1 String", "sentence2": "#2 String"}


def features(spec: TaskSpec) -> datasets.Features:
    """The Hub's schema: text columns, label (ClassLabel, or float32 for regression), idx."""
    label = datasets.Value("float32") if spec.is_regression else datasets.ClassLabel(names=list(spec.label_names))
    return datasets.Features(
        {**{c: datasets.Value("string") for c in spec.text_columns}, "label": label, "idx": datasets.Value("int32")}
    )


@dataclass
class DataSource:
    """Where the rows came from; stored in every result."""

    kind: str  # "hub" or "local"
    location: str  # Hub repo id or local folder
    task: str = COURSE_TASK  # the GLUE task (the Hub config)
    revision: str | None = None  # Hub revision (None for local)
    layout: str | None = None  # local only: "msr" (MRPC's raw files), "tsv" (GLUE's tsv files) or "hub-parquet"
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> checksum
    checksums_verified: bool = False  # True when a SHA256SUMS file vouched for every file read


def load(spec: TaskSpec | str = COURSE_TASK, data_dir: str | os.PathLike | None = None):
    """Load a task from `data_dir`, else `$GLUE_DIR`, else the Hub.

    Args:
        spec: the task (or its name in `tasks.TASKS`).
        data_dir: a GLUE folder (holding the task's folder, e.g. `SST-2/`) or that folder itself.

    Returns:
        The splits (train, the validation split(s), test) and where they came from.
    """
    data_dir = data_dir or os.environ.get("GLUE_DIR")
    return load_local(data_dir, spec) if data_dir else load_hub(spec)


def load_hub(spec: TaskSpec | str = COURSE_TASK,
             revision: str = HUB_REVISION) -> tuple[datasets.DatasetDict, DataSource]:
    """The real Hub loading code: `load_dataset("nyu-mll/glue", task)` at a pinned revision."""
    task_name = _spec(spec).name
    try:
        splits = datasets.load_dataset(HUB_REPO, task_name, revision=revision)
    except (ConnectionError, OSError) as err:
        raise GlueReproError(
            f"could not load {HUB_REPO}/{task_name} from the Hugging Face Hub ({err}); "
            "offline, load it from a local GLUE folder (the data folder, or GLUE_DIR)"
        ) from err
    return splits, DataSource(kind="hub", location=HUB_REPO, task=task_name, revision=revision)


def load_local(data_dir: str | os.PathLike,
               spec: TaskSpec | str = COURSE_TASK) -> tuple[datasets.DatasetDict, DataSource]:
    """Read a task from a local GLUE folder, or from a local copy of the Hub's GLUE repository."""
    spec = _spec(spec)
    parquet = _hub_copy_files(Path(data_dir), spec)
    if parquet:
        return load_hub_copy(Path(data_dir), spec, parquet)
    if spec.local is None:
        raise GlueReproError(f"task {spec.name!r} has no local layout; load it from the Hub (unset GLUE_DIR)")
    folder = _task_folder(Path(data_dir), spec.local)
    layout, names = _layout(folder, spec)
    if layout == "msr":
        rows = _read_msr(folder, spec)
    else:
        rows = {split: _read_tsv(folder / name, spec, split) for split, name in spec.local.files.items()}
    sha256 = {name: _sha256(folder / name) for name in names}
    verified = verify_checksums(folder, sha256)
    schema = features(spec)
    dataset = datasets.DatasetDict({split: datasets.Dataset.from_list(r, features=schema) for split, r in rows.items()})
    source = DataSource("local", str(folder.resolve()), task=spec.name, layout=layout, sha256=sha256,
                        checksums_verified=verified)
    return dataset, source


def _hub_copy_files(data_dir: Path, spec: TaskSpec) -> list[Path]:
    """A task's parquet files in a local copy of the Hub's GLUE repository (its README.md, which
    declares the configs, at the root; a folder per config); none when `data_dir` is not one."""
    if not (data_dir / "README.md").is_file() or not (data_dir / spec.name).is_dir():
        return []
    return sorted((data_dir / spec.name).glob("*.parquet"))


def load_hub_copy(data_dir: Path, spec: TaskSpec, files: list[Path]) -> tuple[datasets.DatasetDict, DataSource]:
    """The task's config read through `datasets` from a local copy of the Hub repository, as the Hub
    path reads the repository itself (the README's configs name each split's files)."""
    import pyarrow.parquet

    columns = list(features(spec))
    for path in files:  # a bad file is named here, not deep inside the datasets builder
        try:
            names = pyarrow.parquet.read_schema(path).names
        except (pyarrow.ArrowException, OSError) as err:
            raise GlueReproError(f"{path}: not a readable parquet file ({err})") from None
        if sorted(names) != sorted(columns):
            raise GlueReproError(f"{path}: columns {names}, not the Hub's {columns}")
    sha256 = {path.name: _sha256(path) for path in files}
    try:
        splits = datasets.load_dataset(str(data_dir), spec.name, cache_dir=_hub_copy_cache(data_dir, sha256))
    except (ValueError, OSError, KeyError, datasets.exceptions.DatasetGenerationError) as err:
        raise GlueReproError(f"{data_dir / 'README.md'}: cannot load config {spec.name!r} from this copy of the "
                             f"Hub repository ({err})") from None
    for split in ("train", *spec.validation_splits):
        if split not in splits:
            raise GlueReproError(f"{data_dir / 'README.md'}: config {spec.name!r} has no {split} split "
                                 f"(it has {', '.join(splits)})")
        if splits[split].features != features(spec):
            raise GlueReproError(f"{data_dir / spec.name}: {split} has columns {splits[split].features}, "
                                 f"not the Hub's {features(spec)}")
    folder = data_dir / spec.name
    return splits, DataSource("local", str(data_dir.resolve()), task=spec.name, layout="hub-parquet", sha256=sha256,
                              checksums_verified=verify_checksums(folder, sha256))


def _layout(folder: Path, spec: TaskSpec) -> tuple[str, list[str]]:
    """Which of a task's layouts the folder holds ("msr": MRPC's raw files, tried first; "tsv"), and its files."""
    if spec.local.msr and all((folder / name).is_file() for name in MSR_FILES.values()):
        return "msr", list(MSR_FILES.values())
    if all((folder / name).is_file() for name in spec.local.files.values()):
        return "tsv", list(spec.local.files.values())
    expected = ", ".join(spec.local.files.values())
    if spec.local.msr:
        expected = f"{', '.join(MSR_FILES.values())} or {expected}"
    raise GlueReproError(f"{folder}: no {spec.name} files found; expected {expected}")


@dataclass(frozen=True)
class Bundle:
    """A task's local files as bytes, to load on a machine that lacks the folder (a sweep's worker)."""

    origin: str  # the task's folder where they were read
    files: dict[str, bytes]  # path in a GLUE folder (e.g. "SST-2/dev.tsv", "SHA256SUMS") -> content

    def unpack(self, glue_dir: Path) -> Path:
        """Write the files into `glue_dir` as a GLUE folder; return it, to load from."""
        for name, content in self.files.items():
            (glue_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (glue_dir / name).write_bytes(content)
        return glue_dir


def bundle(spec: TaskSpec | str, data_dir: str | os.PathLike | None = None) -> Bundle | None:
    """The files `load` would read for a task, with the SHA256SUMS that vouches for them (None: from the Hub)."""
    spec, data_dir = _spec(spec), data_dir or os.environ.get("GLUE_DIR")
    if not data_dir:
        return None
    parquet = _hub_copy_files(Path(data_dir), spec)
    if parquet:
        folder, sub, origin = Path(data_dir) / spec.name, spec.name, Path(data_dir)
        files = {"README.md": _one_config_readme(Path(data_dir) / "README.md", spec.name).encode()}
        files |= {f"{sub}/{path.name}": path.read_bytes() for path in parquet}
    else:
        folder = origin = _task_folder(Path(data_dir), spec.local)
        sub = spec.local.folder
        _, names = _layout(folder, spec)
        files = {f"{sub}/{name}": (folder / name).read_bytes() for name in names}
    for sums, name in ((folder / "SHA256SUMS", f"{sub}/SHA256SUMS"),
                       (folder.parent / "SHA256SUMS", "SHA256SUMS")):
        if sums.is_file():
            files[name] = sums.read_bytes()
            break
    return Bundle(str(origin.resolve()), files)


def _hub_copy_cache(data_dir: Path, sha256: dict[str, str]) -> str:
    """Where `datasets` keeps its Arrow copy of a Hub copy's config: a folder per content. Its own cache
    key leaves out the files' content and folder (two copies named alike, or a file changed in place,
    would read the first one's rows)."""
    content = hashlib.sha256((data_dir / "README.md").read_bytes() + json.dumps(sorted(sha256.items())).encode())
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "glue_repro-hub-copies" / content.hexdigest()[:16])


def _one_config_readme(readme: Path, config: str) -> str:
    """A Hub copy's README declaring only one config, for a worker given that config's files alone
    (`datasets` looks for the files of every config the README declares)."""
    import yaml

    _, header, body = readme.read_text(encoding="utf-8").split("---\n", 2)
    meta = yaml.safe_load(header)
    for key in ("configs", "dataset_info"):  # the Hub's README lists both per config
        if isinstance(meta.get(key), list):
            meta[key] = [entry for entry in meta[key] if entry.get("config_name") == config]
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{body}"


def _spec(spec: TaskSpec | str) -> TaskSpec:
    """A task given by name (from the command line, a test) resolved once, at the module's edge."""
    return spec if isinstance(spec, TaskSpec) else task(spec)


def cut(splits: datasets.DatasetDict, spec: TaskSpec, limit: int | None, train_rows: int | None):
    """Train and the validation split(s) only, the first `limit` rows of each, the first `train_rows` of train."""
    kept = {name: splits[name] for name in ("train", *spec.validation_splits)}
    if limit:
        kept = {name: split.select(range(min(limit, len(split)))) for name, split in kept.items()}
    if train_rows:
        kept["train"] = kept["train"].select(range(min(train_rows, len(kept["train"]))))
    return datasets.DatasetDict(kept)


def local_tasks(data_dir: str | os.PathLike) -> list[str]:
    """The tasks whose folders (SST-2/, ..., or a Hub copy's sst2/, ...) with their files a local folder holds,
    in the table's order."""
    held = []
    for name, spec in TASKS.items():
        try:
            _hub_copy_files(Path(data_dir), spec) or _layout(Path(data_dir) / spec.local.folder, spec)
        except GlueReproError:
            continue
        held.append(name)
    return held


def _task_folder(path: Path, local: LocalFiles) -> Path:
    if not path.is_dir():
        raise GlueReproError(f"{path}: data folder does not exist")
    return path / local.folder if (path / local.folder).is_dir() else path


def _read_tsv(path: Path, spec: TaskSpec, split: str) -> list[dict]:
    """Rows of one GLUE tsv file in the Hub's schema, read as the Hub's GLUE builder reads them (tab-separated,
    no quoting, a header naming the columns); `idx` is the row's number among the file's data rows."""
    local, labelled = spec.local, not split.startswith("test")
    rows = []
    with _LineFile(path) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if split in local.headerless:
            width, col = None, dict(local.positions)
        else:
            header = next(reader, None)
            if header is None:
                raise GlueReproError(f"{path}: file is empty")
            width, col = len(header), _header_columns(path, header, spec, labelled)
        number = -1
        for fields in reader:
            if not fields:
                continue  # a blank line is no row (csv.DictReader, the builder's reader, skips it uncounted)
            number += 1
            width = width or len(fields)
            if local.drops_incomplete_rows:
                if max(col.values()) >= len(fields) or ("label" in col and not fields[col["label"]]):
                    continue  # the builder fills missing fields with None and drops the row; idx still counts it
            elif len(fields) != width:
                raise GlueReproError(f"{path} line {f.line}: expected {width} tab-separated fields, got {len(fields)}")
            row = {c: fields[col[c]] for c in spec.text_columns}
            row["label"] = _label(fields[col["label"]], spec, path, f.line) if "label" in col else _unlabelled(spec)
            row["idx"] = number
            rows.append(row)
    if not rows:
        raise GlueReproError(f"{path}: no data rows" + ("" if split in local.headerless else " after the header"))
    return rows


def _header_columns(path: Path, header: list[str], spec: TaskSpec, labelled: bool) -> dict[str, int]:
    """Field position of each Hub column (and of the label, when the file has one)."""
    wanted = {column: spec.local.header(column) for column in spec.text_columns}
    if labelled or spec.local.label in header:
        wanted["label"] = spec.local.label
    for name in wanted.values():
        if name not in header:
            raise GlueReproError(f"{path} line 1: missing column {name!r} (header: {header!r})")
    return {hub: header.index(name) for hub, name in wanted.items()}


def _unlabelled(spec: TaskSpec):
    return -1.0 if spec.is_regression else -1


def _label(text: str, spec: TaskSpec, path: Path, line: int):
    """A class index (from a class name or its index) or, for regression, a float score."""
    if spec.is_regression:
        try:
            return float(text)
        except ValueError:
            raise GlueReproError(f"{path} line {line}: score {text!r} is not a number") from None
    if text in spec.label_names:
        return spec.label_names.index(text)
    if text.isdigit() and int(text) < len(spec.label_names):
        return int(text)
    allowed = ", ".join([*map(str, range(len(spec.label_names))), *spec.label_names])
    raise GlueReproError(f"{path} line {line}: label {text!r} is not one of {allowed}")


def _read_msr(folder: Path, spec: TaskSpec) -> dict[str, list[dict]]:
    dev_ids = _read_dev_ids(folder / MSR_FILES["dev_ids"])
    train, validation, seen = [], [], set()
    for ids, row in _read_msr_table(folder / MSR_FILES["train"], spec, labelled=True):
        if ids in dev_ids:
            validation.append(row)
            seen.add(ids)
        else:
            train.append(row)
    missing = [ids for ids in dev_ids if ids not in seen]
    if missing:
        raise GlueReproError(
            f"{folder / MSR_FILES['dev_ids']} line {dev_ids[missing[0]]}: pair {missing[0]} "
            f"is not in {MSR_FILES['train']}"
        )
    test = [row for _, row in _read_msr_table(folder / MSR_FILES["test"], spec, labelled=False)]
    return {"train": train, "validation": validation, "test": test}


def _read_dev_ids(path: Path) -> dict[tuple[str, str], int]:
    """Map each (id1, id2) pair to its line number."""
    ids = {}
    with _LineFile(path) as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if not row:
                continue
            if len(row) != 2 or not all(part.strip() for part in row):
                raise GlueReproError(f"{path} line {f.line}: expected two tab-separated ids, got {row!r}")
            ids[(row[0], row[1])] = f.line
    if not ids:
        raise GlueReproError(f"{path}: file is empty")
    return ids


def _read_msr_table(path: Path, spec: TaskSpec, labelled: bool) -> list[tuple[tuple[str, str], dict]]:
    """An MSR paraphrase file as (id pair, row) items; `idx` is the row's position in the file.

    The train file must have labels; the test file's are read when it has them (the MSR one does).
    """
    rows = []
    with _LineFile(path) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise GlueReproError(f"{path}: file is empty")
        needed = {k: v for k, v in MSR_COLUMNS.items() if k != "label" or labelled or v in header}
        for name in needed.values():
            if name not in header:
                raise GlueReproError(f"{path} line 1: missing column {name!r} (header: {header!r})")
        col = {key: header.index(name) for key, name in needed.items()}
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise GlueReproError(
                    f"{path} line {f.line}: expected {len(header)} tab-separated fields, got {len(fields)}"
                )
            label = _label(fields[col["label"]], spec, path, f.line) if "label" in col else -1
            row = {"sentence1": fields[col["sentence1"]], "sentence2": fields[col["sentence2"]], "label": label,
                   "idx": len(rows)}
            rows.append(((fields[col["id1"]], fields[col["id2"]]), row))
    if not rows:
        raise GlueReproError(f"{path}: no data rows after the header")
    return rows


class _LineFile:
    """A text file read line by line, knowing the number of the last line handed out.

    Lines are decoded one at a time so that bad bytes are reported with their line.
    """

    def __init__(self, path: Path):
        self.path = path
        self.line = 0
        try:
            self._f = open(path, "rb")
        except OSError as err:
            raise GlueReproError(f"{path}: cannot open ({err.strerror})") from err

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = next(self._f)
        self.line += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise GlueReproError(f"{self.path} line {self.line}: not valid UTF-8") from err
        return text.removeprefix("\ufeff") if self.line == 1 else text  # the MSR files start with a BOM

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_checksums(folder: Path, sha256: dict[str, str]) -> bool:
    """Check files against a `SHA256SUMS` in the task's folder or the GLUE folder above it.

    Returns:
        True when a SHA256SUMS lists every file read and all match; False when there is none.
    """
    for sums in (folder / "SHA256SUMS", folder.parent / "SHA256SUMS"):
        if sums.is_file():
            break
    else:
        return False
    listed = _read_sums(sums)
    prefix = "" if sums.parent == folder else folder.name + "/"
    for name, digest in sha256.items():
        expected = listed.get(prefix + name)
        if expected is None:
            return False
        if expected != digest:
            raise GlueReproError(
                f"{folder / name}: SHA-256 {digest} does not match {expected} listed in {sums}"
            )
    return True


def _read_sums(path: Path) -> dict[str, str]:
    listed = {}
    with _LineFile(path) as f:
        for text in f:
            if not text.strip():
                continue
            digest, _, name = text.strip().partition("  ")
            if len(digest) != 64 or not name:
                raise GlueReproError(f"{path} line {f.line}: expected '<sha256>  <file>', got {text.strip()!r}")
            listed[name.removeprefix("./")] = digest.lower()
    return listed


def describe(splits: datasets.DatasetDict, source: DataSource) -> dict:
    """What a loaded task holds, per split: rows and label counts (or the score range)."""
    spec = task(source.task)
    out = {"task": spec.name, "source": {k: v for k, v in vars(source).items() if k != "task"}, "splits": {}}
    for name, split in splits.items():
        labels = split["label"]
        labelled = [y for y in labels if y != -1]
        row = {"rows": len(split), "unlabelled": len(labels) - len(labelled)}
        if spec.is_regression:
            row["score_range"] = [min(labelled), max(labelled)] if labelled else None
        else:
            row["label_counts"] = {n: sum(1 for y in labelled if y == i) for i, n in enumerate(spec.label_names)}
        out["splits"][name] = row
    return out
