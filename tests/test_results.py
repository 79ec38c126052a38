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


def test_every_committed_run_reads_with_the_current_layout():
    from pathlib import Path

    from glue_repro.config import from_dict

    files = sorted((Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json"))
    assert files
    for path in files:
        run = results.read(path)
        config = from_dict(run["config"])  # a valid RunConfig, whichever schema wrote it
        assert config.seed == run["seed"] and config.recipe.task == run["task"]
        assert list(run["metrics"]) == (["accuracy", "f1"] if run["task"] == "mrpc" else list(run["metrics"]))


def test_config_round_trips_through_its_dict():
    from glue_repro.config import MINILM_PRESET, from_dict

    config = MINILM_PRESET.replace(task="stsb", seed=7, epochs=1, xla=True, predict_batch_size=None)
    assert from_dict(config.to_dict()) == config
    flat = {"preset": "minilm", "seed": 7, **config.to_dict()["recipe"], **config.to_dict()["speed"]}
    assert from_dict(flat) == config  # schema 1's flat layout


def test_replace_routes_fields_and_refuses_unknown_ones():
    from glue_repro.config import TINY_PRESET

    changed = TINY_PRESET.replace(epochs=2, xla_predict=True, seed=3, preset="x")
    assert (changed.recipe.epochs, changed.speed.xla_predict, changed.seed, changed.preset) == (2, True, 3, "x")
    with pytest.raises(GlueReproError, match="config has no field"):
        TINY_PRESET.replace(epoch=2)
    with pytest.raises(GlueReproError, match="config field task='mnrl'"):
        TINY_PRESET.replace(task="mnrl")


def test_without_hard_links_the_result_is_still_written_and_nothing_overwritten(tmp_path, monkeypatch):
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(results.os, "link", no_links)
    first = results.write_new({"n": 1}, tmp_path, "run")
    second = results.write_new({"n": 2}, tmp_path, "run")
    assert (first.name, second.name) == ("run.json", "run-2.json")
    assert json.loads(first.read_text()) == {"n": 1} and json.loads(second.read_text()) == {"n": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2.json", "run.json"]  # no temporary left


def test_results_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(GlueReproError, match="taken: exists and is not a folder"):
        results.write_new({"n": 1}, tmp_path / "taken", "run")
