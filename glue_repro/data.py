"""GLUE MRPC as a `datasets.DatasetDict` with the Hub's schema, from the Hub or a local folder.

The local path reads the same raw files the Hub's GLUE builder reads
(`msr_paraphrase_{train,test}.txt` and `dev_ids.tsv`) with the same rules: train is the
train file minus the dev ids, validation is the dev ids, test is the test file, and `idx`
is the row's position in its file. It also accepts the GLUE `{train,dev,test}.tsv` layout.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from glue_repro.errors import GlueReproError

HUB_REPO = "nyu-mll/glue"
HUB_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"  # pinned for reproducibility
LABEL_NAMES = ["not_equivalent", "equivalent"]
FEATURES = datasets.Features(
    {
        "sentence1": datasets.Value("string"),
        "sentence2": datasets.Value("string"),
        "label": datasets.ClassLabel(names=LABEL_NAMES),
        "idx": datasets.Value("int32"),
    }
)
RAW_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt", "dev_ids": "dev_ids.tsv"}
TSV_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}
COLUMNS = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")


@dataclass
class DataSource:
    """Where the rows came from; stored in every result."""

    kind: str  # "hub" or "local"
    location: str  # Hub repo id or local folder
    revision: str | None = None  # Hub revision (None for local)
    layout: str | None = None  # local only: "raw" (msr_paraphrase_*) or "tsv" (GLUE tsv)
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> checksum
    checksums_verified: bool = False  # True when a SHA256SUMS file vouched for every file read


def load_mrpc(data_dir: str | os.PathLike | None = None) -> tuple[datasets.DatasetDict, DataSource]:
    """Load MRPC from `data_dir`, else `$GLUE_DIR`, else the Hub.

    Args:
        data_dir: a GLUE folder (holding `MRPC/`) or the MRPC folder itself.

    Returns:
        The splits `train`, `validation`, `test`, and where they came from.
    """
    data_dir = data_dir or os.environ.get("GLUE_DIR")
    if data_dir:
        return load_local(data_dir)
    return load_hub()


def load_hub(revision: str = HUB_REVISION) -> tuple[datasets.DatasetDict, DataSource]:
    """The real Hub loading code: `load_dataset("nyu-mll/glue", "mrpc")` at a pinned revision."""
    try:
        splits = datasets.load_dataset(HUB_REPO, "mrpc", revision=revision)
    except (ConnectionError, OSError) as err:
        raise GlueReproError(
            f"could not load {HUB_REPO}/mrpc from the Hugging Face Hub ({err}); "
            "offline, point --data-dir or GLUE_DIR at a local GLUE folder"
        ) from err
    return splits, DataSource(kind="hub", location=HUB_REPO, revision=revision)


def load_local(data_dir: str | os.PathLike) -> tuple[datasets.DatasetDict, DataSource]:
    """Read MRPC from a local GLUE folder (raw MSR files or GLUE tsv files)."""
    folder = _mrpc_folder(Path(data_dir))
    if all((folder / name).is_file() for name in RAW_FILES.values()):
        layout, names = "raw", list(RAW_FILES.values())
        splits = _read_raw(folder)
    elif all((folder / name).is_file() for name in TSV_FILES.values()):
        layout, names = "tsv", list(TSV_FILES.values())
        splits = {split: [row for _, row in _read_table(folder / name)] for split, name in TSV_FILES.items()}
    else:
        raise GlueReproError(
            f"{folder}: no MRPC files found; expected {', '.join(RAW_FILES.values())} "
            f"or {', '.join(TSV_FILES.values())}"
        )
    sha256 = {name: _sha256(folder / name) for name in names}
    verified = verify_checksums(folder, sha256)
    dataset = datasets.DatasetDict(
        {split: datasets.Dataset.from_list(rows, features=FEATURES) for split, rows in splits.items()}
    )
    source = DataSource("local", str(folder.resolve()), layout=layout, sha256=sha256, checksums_verified=verified)
    return dataset, source


def _mrpc_folder(path: Path) -> Path:
    if not path.is_dir():
        raise GlueReproError(f"{path}: data folder does not exist (set by --data-dir or GLUE_DIR)")
    return path / "MRPC" if (path / "MRPC").is_dir() else path


def _read_raw(folder: Path) -> dict[str, list[dict]]:
    dev_ids = _read_dev_ids(folder / RAW_FILES["dev_ids"])
    train, validation, seen = [], [], set()
    for ids, row in _read_table(folder / RAW_FILES["train"]):
        if ids in dev_ids:
            validation.append(row)
            seen.add(ids)
        else:
            train.append(row)
    missing = [ids for ids in dev_ids if ids not in seen]
    if missing:
        raise GlueReproError(
            f"{folder / RAW_FILES['dev_ids']} line {dev_ids[missing[0]]}: pair {missing[0]} "
            f"is not in {RAW_FILES['train']}"
        )
    test = [row for _, row in _read_table(folder / RAW_FILES["test"])]
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


def _read_table(path: Path) -> list[tuple[tuple[str, str], dict]]:
    """Read an MSR/GLUE MRPC table into (id pair, row) items.

    `idx` is the row's position in the file, as in the Hub builder.
    """
    rows = []
    with _LineFile(path) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise GlueReproError(f"{path}: file is empty")
        has_labels = "Quality" in header
        needed = COLUMNS if has_labels else COLUMNS[1:]
        for name in needed:
            if name not in header:
                raise GlueReproError(f"{path} line 1: missing column {name!r} (header: {header!r})")
        col = {name: header.index(name) for name in needed}
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise GlueReproError(
                    f"{path} line {f.line}: expected {len(header)} tab-separated fields, got {len(fields)}"
                )
            label = -1  # GLUE's test.tsv carries no labels
            if has_labels:
                label = _label(fields[col["Quality"]], path, f.line)
            ids = (fields[col["#1 ID"]], fields[col["#2 ID"]])
            row = {
                "sentence1": fields[col["#1 String"]],
                "sentence2": fields[col["#2 String"]],
                "label": label,
                "idx": len(rows),
            }
            rows.append((ids, row))
    if not rows:
        raise GlueReproError(f"{path}: no data rows after the header")
    return rows


def _label(text: str, path: Path, line: int) -> int:
    if text not in ("0", "1"):
        raise GlueReproError(f"{path} line {line}: label {text!r} is not 0 or 1")
    return int(text)


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
    """Check files against a `SHA256SUMS` in the MRPC folder or the GLUE folder above it.

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
