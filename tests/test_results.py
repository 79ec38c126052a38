import json
import os
from pathlib import Path

import pytest

from glue_repro import results, schema
from glue_repro.errors import GlueReproError


def _example() -> dict:
    return {key: None for key in schema.Result.__annotations__} | {"metrics": {"accuracy": 0.5, "f1": float("nan")}}


def test_round_trip(tmp_path):
    path = results.write_new(_example(), tmp_path, "run")
    back = results.read(path)
    assert list(back) == list(schema.Result.__annotations__)
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
    path.write_text(json.dumps({"config": {}, "metrics": {}}))
    with pytest.raises(GlueReproError, match="lacks field"):
        results.read(path)
    path.write_text("{truncated")
    with pytest.raises(GlueReproError, match="not a readable run file"):
        results.read(path)


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
    path = results.write_new({"kind": "run", "schema_version": schema.SCHEMA_VERSION, "seed": 1}, tmp_path, "r")
    with pytest.raises(GlueReproError) as refused:
        results.read(path)
    assert str(refused.value).startswith(f"{path}: run file lacks field(s) created, git, versions, device, task, ")


def test_older_schemas_upgrade_to_the_current_layout():
    flat = {"schema_version": 1, "config": {"preset": "minilm-ci", "model": "m", "epochs": 1, "seed": 2},
            "metrics": {"accuracy": 0.8, "f1": 0.86}, "seed": 2}
    up = results.upgrade_run(flat)
    assert up["task"] == "mrpc" and up["label"] == "minilm-ci+m" and up["schema_version"] == 1  # not its model
    assert up["metrics_by_split"] == {"validation": {"accuracy": 0.8, "f1": 0.86}}
    assert up["config"]["recipe"]["epochs"] == 1 and up["logits"] is None
    for version in (2, 3):
        two = results.upgrade_run({"schema_version": version, "config": {"preset": "quick"}, "seed": 1})
        assert two["label"] == "quick" and set(schema.Result.__annotations__) <= set(two)
    four = results.upgrade_run({"schema_version": 4, "config": {"preset": "q"}, "timing": {"fit_seconds": 1.0}})
    assert four["timing"]["fit_seconds"] == 1.0 and four["timing"]["fit_mfu"] is None
    current = {"schema_version": schema.SCHEMA_VERSION, "label": "x"}
    assert results.upgrade_run(current) == current
    from glue_repro.config import MINILM_PRESET

    mixed = MINILM_PRESET.replace(precision="mixed_bfloat16")  # stored as plain minilm before the label said so
    old = {**current, "label": "minilm", "config": mixed.to_dict()}
    assert results.upgrade_run(old)["label"] == "minilm+mixed_bfloat16"


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


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_older_timing_reads_with_the_mfu_fields(version):
    config = {"preset": "minilm-ci", "model": "m", "seed": 1} if version == 1 else {"preset": "q"}
    old = results.upgrade_run({"schema_version": version, "config": config, "seed": 1, "timing": {"fit_seconds": 2.0}})
    assert old["timing"]["fit_seconds"] == 2.0
    assert {k: old["timing"][k] for k in ("peak_gflops", "fit_mfu", "predict_mfu")} == dict.fromkeys(
        ("peak_gflops", "fit_mfu", "predict_mfu"))


def test_every_committed_file_reads_as_its_kind():
    """Each file under results/ (runs, aggregates, baselines, lr-decay files, benchmarks, the peer's
    runs), whichever layout wrote it, reads through the one reader with every field of its kind."""
    root = Path(__file__).resolve().parents[1] / "results"
    kinds = {}
    for path in sorted(root.rglob("*.json")):
        data = results.load(path)
        kinds.setdefault(data["kind"], []).append(data)
        if data["kind"] in results.RECORDS:
            assert set(results.RECORDS[data["kind"]].__annotations__) <= set(data), path
    assert set(kinds) == {"run", "aggregate", "baseline", "lr-decay", "benchmark", "peer"}
    assert {a["task"] for a in kinds["aggregate"]} == {"mrpc"}  # schema-1 aggregates named no task
    assert {r["target_metric"] for r in kinds["lr-decay"]} == {"accuracy"}  # nor did the first lr-decay file


def test_a_file_of_another_kind_is_refused_by_name(tmp_path):
    path = results.write_new({"kind": "gate", "passed": True}, tmp_path, "g")
    with pytest.raises(GlueReproError, match=f"^{path}: a gate file, not a run file$"):
        results.read(path)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(GlueReproError, match="other.json: not a result file of this suite"):
        results.load(tmp_path / "other.json")
