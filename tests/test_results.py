import json
import os
import subprocess
from pathlib import Path

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


@pytest.mark.parametrize("where", ["a file", "unwritable"])
def test_a_result_its_folder_cannot_take_is_saved_elsewhere_and_said_in_one_line(tmp_path, monkeypatch, capsys,
                                                                                    where):
    monkeypatch.setenv("GLUE_REPRO_CACHE", str(tmp_path / "cache"))
    if where == "a file":  # e.g. replaced while the run trained
        (tmp_path / "taken").write_text("x")
        folder = tmp_path / "taken"
    else:  # /proc takes no new files, not even root's
        folder = Path("/proc/glue-repro-test/runs")
    assert results.check_writable(folder) is not None
    path = results.write_new({"n": 1}, folder, "run")
    assert path == tmp_path / "cache" / "unsaved" / "run.json" and json.loads(path.read_text()) == {"n": 1}
    err = capsys.readouterr().err
    assert err.startswith(f"glue-repro: could not write run.json into {folder} (") and err.count("\n") == 1
    assert err.endswith(f"; saved it as {path}\n")


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def test_git_info_names_the_commit_and_whether_tracked_files_changed(tmp_path):
    assert results.git_info(tmp_path) == {"commit": None, "dirty": None}  # not a repository
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert results.git_info(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "new.txt").write_text("untracked")  # untracked files do not make it dirty
    assert results.git_info(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert results.git_info(tmp_path) == {"commit": head, "dirty": True}


def test_versions_say_which_packages_are_missing(monkeypatch):
    from importlib import metadata

    real = metadata.version

    def version(name):
        if name == "scipy":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    found = results.versions()
    assert list(found) == ["python", *results.VERSIONED_PACKAGES]
    assert found["scipy"] == "not installed" and found["numpy"] == real("numpy")


def test_device_names_each_gpu_and_the_cpu(monkeypatch):
    import tensorflow as tf

    class Gpu:
        def __init__(self, name):
            self.name = name

    gpus = [Gpu("/physical_device:GPU:0"), Gpu("/physical_device:GPU:1")]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"device_name": "NVIDIA H200"} if gpu is gpus[0] else {})
    info = results.device()
    assert info["gpus"] == ["NVIDIA H200", "/physical_device:GPU:1"]  # the name TF gives when details lack one
    assert info["cpu"] == results.cpu_model() and info["cpu_cores"] == len(os.sched_getaffinity(0))
    assert info["onednn"] == results.onednn_enabled()


def test_cpu_model_is_the_model_name_line(monkeypatch):
    text = Path("/proc/cpuinfo").read_text()
    line = next(line for line in text.splitlines() if line.startswith("model name"))
    assert results.cpu_model() == line.partition(":")[2].strip()

    class Proc:
        def __init__(self, path):
            pass

        def read_text(self):
            return "processor\t: 0\nmodel name\t: Xeon: rev 3 @ 2.0GHz: B0\nflags\t: avx2\n"

    monkeypatch.setattr(results, "Path", Proc)
    assert results.cpu_model() == "Xeon: rev 3 @ 2.0GHz: B0"  # colons in the name are kept

    class NoProc(Proc):
        def read_text(self):
            raise OSError("no /proc here")

    monkeypatch.setattr(results, "Path", NoProc)
    monkeypatch.setattr(results.platform, "processor", lambda: "")
    assert results.cpu_model() == results.platform.machine()


def test_written_files_are_indented_in_field_order_readable_by_others_and_in_new_folders(tmp_path):
    path = results.write_new({"b": 1, "a": [1, 2]}, tmp_path / "new" / "deeper", "x")
    assert path.read_text() == '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary file left


def test_when_every_name_is_taken_nothing_is_replaced(tmp_path, monkeypatch):
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    runs.mkdir()
    (runs / "x.json").write_text("{}")
    monkeypatch.setattr(results, "_free_names", lambda folder, stem: iter([folder / f"{stem}.json"]))
    monkeypatch.setattr(results, "unsaved_dirs", lambda: [cache])
    with pytest.raises(FileExistsError, match=f"{runs}: no free name for x"):
        results._write_new({"a": 1}, runs, "x")
    assert results.write_new({"a": 1}, runs, "x") == cache / "x.json"  # saved elsewhere
    assert [p.name for p in runs.iterdir()] == ["x.json"] and (runs / "x.json").read_text() == "{}"
    (cache / "x.json").unlink()
    (cache / "x.json").mkdir()  # the fallback taken too: the first failure is raised, nothing written
    with pytest.raises(FileExistsError, match=f"{runs}: no free name for x"):
        results.write_new({"a": 1}, runs, "x")


def test_without_hard_links_a_taken_name_is_still_never_replaced(tmp_path, monkeypatch):
    (tmp_path / "x.json").write_text("{}")

    def no_link(source, target):
        raise OSError("hard links not supported")

    monkeypatch.setattr(results.os, "link", no_link)
    monkeypatch.setattr(results, "_free_names", lambda folder, stem: iter([folder / f"{stem}.json"]))
    with pytest.raises(FileExistsError, match=f"{tmp_path}: no free name for x"):
        results._write_new({"a": 1}, tmp_path, "x")
    assert (tmp_path / "x.json").read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_result_missing_fields_names_them_all(tmp_path):
    path = results.write_new({"schema_version": results.SCHEMA_VERSION, "seed": 1}, tmp_path, "r")
    with pytest.raises(GlueReproError) as refused:
        results.read(path)
    assert str(refused.value).startswith(f"{path}: result file lacks field(s) created, task, label, ")


def test_older_schemas_upgrade_to_the_current_layout():
    flat = {"schema_version": 1, "config": {"preset": "minilm-ci", "model": "m", "epochs": 1, "seed": 2},
            "metrics": {"accuracy": 0.8, "f1": 0.86}, "seed": 2}
    up = results.upgrade(flat)
    assert up["task"] == "mrpc" and up["label"] == "minilm-ci+m" and up["schema_version"] == 1  # not its model
    assert up["metrics_by_split"] == {"validation": {"accuracy": 0.8, "f1": 0.86}}
    assert up["config"]["recipe"]["epochs"] == 1 and up["logits"] is None
    for version in (2, 3):
        two = results.upgrade({"schema_version": version, "config": {"preset": "quick"}, "seed": 1})
        assert two["label"] == "quick" and set(results.Result.__annotations__) <= set(two)
    four = results.upgrade({"schema_version": 4, "config": {"preset": "q"}, "timing": {"fit_seconds": 1.0}})
    assert four["timing"]["fit_seconds"] == 1.0 and four["timing"]["fit_mfu"] is None
    current = {"schema_version": results.SCHEMA_VERSION, "label": "x"}
    assert results.upgrade(current) == current
    from glue_repro.config import MINILM_PRESET

    mixed = MINILM_PRESET.replace(precision="mixed_bfloat16")  # stored as plain minilm before the label said so
    old = {**current, "label": "minilm", "config": mixed.to_dict()}
    assert results.upgrade(old)["label"] == "minilm+mixed_bfloat16"


def test_run_file_names_carry_task_label_and_seed():
    from glue_repro.config import TINY_PRESET

    assert results.run_stem(TINY_PRESET.replace(task="rte", seed=7))[15:] == "-rte-tiny-seed7"


def test_reading_json_names_the_file_and_what_it_should_be(tmp_path):
    with pytest.raises(GlueReproError) as refused:
        results.read_json(tmp_path / "none.json", "result file")
    assert str(refused.value) == f"{tmp_path / 'none.json'}: no such file (expected result file)"
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(GlueReproError, match=r"text.json: not a readable result file \(Expecting value"):
        results.read_json(tmp_path / "text.json", "result file")


def test_creation_times_are_utc():
    assert results.now().endswith("+00:00") and len(results.now()) == len("2026-11-29T12:00:00+00:00")


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_older_timing_reads_with_the_mfu_fields(version):
    config = {"preset": "minilm-ci", "model": "m", "seed": 1} if version == 1 else {"preset": "q"}
    old = results.upgrade({"schema_version": version, "config": config, "seed": 1, "timing": {"fit_seconds": 2.0}})
    assert old["timing"]["fit_seconds"] == 2.0
    assert {k: old["timing"][k] for k in ("peak_gflops", "fit_mfu", "predict_mfu")} == dict.fromkeys(
        ("peak_gflops", "fit_mfu", "predict_mfu"))
