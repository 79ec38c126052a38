import json
import os

import pytest

from glue_repro import results
from glue_repro.errors import GlueReproError


def _example() -> dict:
    return {key: None for key in results.Result.__annotations__} | {"metrics": {"accuracy": 0.5, "f1": float("nan")}}


def test_round_trip(tmp_path):
    path = results.write_new(_example(), tmp_path, "run")
    back = results.read(path)
    assert list(back) == list(results.Result.__annotations__)
    assert back["metrics"] == {"accuracy": 0.5, "f1": None}  # NaN is not JSON: stored as null


def test_second_write_never_overwrites(tmp_path):
    first = results.write_new({"n": 1}, tmp_path, "run")
    second = results.write_new({"n": 2}, tmp_path, "run")
    assert first != second and second.name == "run-2.json"
    assert json.loads(first.read_text()) == {"n": 1}
    assert json.loads(second.read_text()) == {"n": 2}


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):
        results.write_new({"bad": object()}, tmp_path, "run")
    assert os.listdir(tmp_path) == []


def test_read_rejects_incomplete_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(GlueReproError, match="lacks field"):
        results.read(path)
    path.write_text("{truncated")
    with pytest.raises(GlueReproError, match="not a readable result file"):
        results.read(path)


def test_every_schema_key_has_a_comment():
    import inspect

    source = inspect.getsource(results)
    for cls in (results.Result, results.Timing, results.Device, results.Git):
        for key in cls.__annotations__:
            lines = [line for line in source.splitlines() if line.strip().startswith(f"{key}:")]
            assert lines and all("#" in line for line in lines), key


def test_environment_fields():
    assert set(results.versions()) == {"python", *results.VERSIONED_PACKAGES}
    device = results.device()
    assert device["cpu"] and device["cpu_cores"] >= 1 and isinstance(device["gpus"], list)
    git = results.git_info()
    assert git["commit"] is None or len(git["commit"]) == 40
