import errno
import json
import os
import tempfile
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
        assert {"cpu_id", "vector_units"} <= set(run["device"])  # None before schema 8 recorded them
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


@pytest.mark.parametrize("version", range(1, 8))
def test_every_older_device_reads_with_the_cpus_id_and_units(version):
    config = {"preset": "minilm-ci", "model": "m", "seed": 1} if version == 1 else {"preset": "q"}
    old = results.upgrade_run({"schema_version": version, "config": config, "seed": 1, "device": {"cpu": "c"}})
    assert old["device"] == {"cpu": "c", "cpu_id": None, "vector_units": None}


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
    first = [a for a in kinds["aggregate"] if (a.get("schema_version") or 1) == 1]
    assert first and {a["task"] for a in first} == {"mrpc"}  # schema-1 aggregates named no task
    assert {r["target_metric"] for r in kinds["lr-decay"]} == {"accuracy"}  # nor did the first lr-decay file


def test_a_file_of_another_kind_is_refused_by_name(tmp_path):
    path = results.write_new({"kind": "gate", "passed": True}, tmp_path, "g")
    with pytest.raises(GlueReproError, match=f"^{path}: a gate file, not a run file$"):
        results.read(path)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(GlueReproError, match="other.json: not a result file of this suite"):
        results.load(tmp_path / "other.json")


def _run_file(folder, seed, created, stem=None, **more):
    run = dict.fromkeys(schema.Result.__annotations__) | {
        "kind": "run", "schema_version": schema.SCHEMA_VERSION, "created": created, "task": "mrpc", "label": "tiny",
        "seed": seed, "config": {"preset": "tiny", "recipe": {"model": "tiny"}, "speed": {}, "seed": seed},
        "metrics": {"accuracy": 0.8}, **more}
    return results.write_new(run, folder, stem or f"run{seed}-{created[:10]}")


def test_read_runs_expands_folders_and_aggregates_and_keeps_the_newest_run_of_each_seed(tmp_path):
    runs = tmp_path / "runs"
    old = _run_file(runs, 1, "2026-01-01T00:00:00+00:00")
    new = _run_file(runs, 1, "2026-02-01T00:00:00+00:00")
    two = _run_file(runs, 2, "2026-01-01T00:00:00+00:00")
    verdict = dict.fromkeys(schema.Verdict.__annotations__) | {"kind": "gate", "passed": True, "reasons": []}
    results.write_new(verdict, runs, "gate-x")  # beside them: not a run
    said = []
    found, files = results.read_runs([str(runs)], log=said.append)
    assert [r["seed"] for r in found] == [1, 2] and files == [new, two]
    assert said == [f"seed 1: {old} left out, {new} is newer"]
    aggregate = results.write_new(dict.fromkeys(schema.Aggregate.__annotations__) | {
        "kind": "aggregate", "files": [f"../runs/{two.name}"], "per_seed": []}, tmp_path / "aggregates", "agg")
    assert results.read_runs([str(aggregate)], log=said.append)[1] == [tmp_path / "aggregates" / f"../runs/{two.name}"]
    with pytest.raises(GlueReproError, match="gate-x.json: a gate file, not a run or an aggregate of runs"):
        results.read_runs([str(runs / "gate-x.json")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlueReproError, match="empty: no result files in this folder"):
        results.read_runs([str(tmp_path / "empty")])
    (runs / "broken.json").write_text("{")
    with pytest.raises(GlueReproError, match="broken.json: not a readable result file"):  # named, not skipped
        results.read_runs([str(runs)])


def test_an_aggregate_lists_runs_beside_it_or_as_older_ones_did_from_the_working_directory(tmp_path, monkeypatch):
    beside = tmp_path / "agg" / "a.json"
    beside.parent.mkdir()
    beside.write_text("{}")
    monkeypatch.chdir(tmp_path)
    files = {"files": ["a.json", "results/runs/b.json", "/abs.json"]}
    listed = results.listed_runs(tmp_path / "agg" / "x.json", files)
    assert listed == [tmp_path / "agg" / "a.json", Path("results/runs/b.json"), tmp_path / "agg" / "/abs.json"]


def test_files_older_than_kinds_are_known_by_their_keys():
    layouts = {"benchmark": {"benchmarks": [], "machine_info": {}},
               "peer": {"torch": "2", "fit_examples_per_second": 1},
               "lr-decay": {"experiment": {}, "runs": []}, "baseline": {"device_class": "cpu", "per_seed": []},
               "aggregate": {"files": [], "per_seed": []}, "gate": {"reasons": [], "passed": True},
               "run": {"config": {}, "metrics": {}}}
    for kind, data in layouts.items():
        assert results.kind_by_keys(data) == kind
        for key in data:  # every key of the layout is needed
            assert results.kind_by_keys({k: v for k, v in data.items() if k != key}) is None, (kind, key)


def test_the_first_lr_decay_files_read_as_mrpc_judged_on_accuracy(tmp_path):
    old = {"experiment": {"accuracy_target": 0.7}, "runs": [], "final": {}, "steps_to_accuracy_target": {"a": 1}}
    path = results.write_new(old, tmp_path, "lr")
    up = results.load(path, "lr-decay")
    assert (up["task"], up["target_metric"], up["target"], up["steps_to_target"]) == ("mrpc", "accuracy", 0.7, {"a": 1})
    assert up["loss_target"] is None and up["steps_to_loss_target"] is None and up["git"] is None
    kept = results.load(results.write_new({**old, "task": "rte", "target": 0.6}, tmp_path, "lr2"), "lr-decay")
    assert (kept["task"], kept["target"]) == ("rte", 0.6)


def test_a_file_that_is_not_json_is_named_as_a_result_file_when_no_kind_is_expected(tmp_path):
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(GlueReproError, match=r"x.json: not a readable result file \("):
        results.load(tmp_path / "x.json")


def test_a_path_that_is_a_file_refuses_results_with_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError) as refused:
        results._write_new({}, blocker, "x")
    assert (refused.value.errno, refused.value.strerror, refused.value.filename) == (
        errno.ENOTDIR, "exists and is not a folder", str(blocker))
    assert results.check_writable(blocker) == "exists and is not a folder"
    assert results.check_writable(blocker / "sub" / "deeper") == f"{blocker} is not a folder"
    assert results.check_writable(tmp_path / "new" / "deeper") is None and not (tmp_path / "new").exists()
    assert results.check_writable(Path("/proc")).startswith("cannot write in /proc (")


def test_the_last_place_for_an_unsaved_result_is_the_temp_folder():
    assert results.unsaved_dirs()[-1] == Path(tempfile.gettempdir()) / "glue_repro-unsaved"


def test_a_failure_without_a_reason_still_says_what_failed(tmp_path, monkeypatch, capsys):
    real = results._write_new

    def fail_first(data, folder, stem):
        if folder == tmp_path / "runs":
            raise OSError("no reason given")
        return real(data, folder, stem)

    monkeypatch.setattr(results, "_write_new", fail_first)
    monkeypatch.setenv("GLUE_REPRO_CACHE", str(tmp_path / "cache"))
    path = results.write_new({"a": 1}, tmp_path / "runs", "r")
    assert path.parent == tmp_path / "cache" / "unsaved"
    assert "(no reason given)" in capsys.readouterr().err


def test_a_run_without_a_creation_time_is_older_than_any_dated_one():
    undated = {"task": "mrpc", "label": "tiny", "seed": 1, "created": None}
    dated = {**undated, "created": "2026-01-01T00:00:00+00:00"}
    kept, files = results.newest_per_seed([dated, undated], [Path("b"), Path("a")], log=lambda line: None)
    assert kept == [dated] and files == [Path("b")]


def test_an_unwritable_fallback_is_skipped_for_the_next(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(results, "unsaved_dirs", lambda: [blocker / "unsaved", tmp_path / "second"])
    path = results.write_new({"a": 1}, blocker, "r")  # the folder is a file, and so is the first fallback's parent
    assert path == tmp_path / "second" / "r.json" and "saved it as" in capsys.readouterr().err


def test_a_folder_refusing_files_without_a_reason_says_what_refused(tmp_path, monkeypatch):
    def refuse(dir=None):
        raise OSError("refused")

    monkeypatch.setattr(results.tempfile, "TemporaryFile", refuse)
    assert results.check_writable(tmp_path) == f"cannot write in {tmp_path} (refused)"
