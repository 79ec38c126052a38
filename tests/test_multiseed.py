"""Multi-seed orchestration in process: which seeds run, which are reused, what the aggregate lists.

`run` itself is replaced by a stand-in that writes a result file, so these check the
orchestration alone; tests/test_seeds.py and tests/test_failures.py run the real thing.
"""

import json
from pathlib import Path

import pytest

from glue_repro import multiseed, results
from glue_repro.config import TINY_PRESET
from glue_repro.errors import GlueReproError

CONFIG = TINY_PRESET.replace(limit=24, epochs=1)
ARGS = {"data_dir": "DATA", "command": ["glue-repro", "run"]}  # passed through to each run


def _result(config, accuracy=0.8, collapsed=False) -> dict:
    return {key: None for key in results.Result.__annotations__} | {
        "schema_version": results.SCHEMA_VERSION, "task": config.recipe.task, "label": config.label,
        "config": config.to_dict(), "seed": config.seed, "collapsed": collapsed,
        "metrics": {"accuracy": accuracy, "f1": accuracy + 0.05},
    }


def _write(config, folder: Path, **kwargs) -> Path:
    return results.write_new(_result(config, **kwargs), folder, results.run_stem(config))


@pytest.fixture
def fake_run(monkeypatch):
    """Replace `run.run` with one that writes a result at once; returns the seeds it was asked for."""
    import glue_repro.run

    asked = []

    def run(config, data_dir=None, runs_dir=None, verbose=None, command=None):
        asked.append(config.seed)
        assert (data_dir, verbose, command) == ("DATA", "auto", ["glue-repro", "run"])
        if config.seed == 99:
            raise KeyboardInterrupt
        result = _result(config, accuracy=0.7 + config.seed / 100)
        return result, results.write_new(result, Path(runs_dir), results.run_stem(config))

    monkeypatch.setattr(glue_repro.run, "run", run)
    return asked


def test_one_run_per_seed_then_the_aggregate_lists_them(fake_run, tmp_path):
    lines = []
    summary, path = multiseed.run_seeds(CONFIG, [1, 2, 3], **ARGS, runs_dir=tmp_path / "runs",
                                        aggregates_dir=tmp_path / "agg", log=lines.append)
    assert fake_run == [1, 2, 3]
    assert lines == ["seed 1 (1/3)", "seed 2 (2/3)", "seed 3 (3/3)"]
    assert path.parent == tmp_path / "agg" and path.name.endswith("-mrpc-tiny-seeds1-2-3.json")
    assert summary["seeds"] == [1, 2, 3] and summary["summary"]["accuracy"]["mean"] == pytest.approx(0.72)
    listed = [(path.parent / name).resolve() for name in summary["files"]]
    assert sorted(listed) == sorted(p.resolve() for p in (tmp_path / "runs").glob("*.json"))
    assert json.loads(path.read_text())["files"] == summary["files"]


def test_resume_reuses_healthy_results_of_the_same_recipe_only(fake_run, tmp_path):
    runs = tmp_path / "runs"
    kept = _write(CONFIG.replace(seed=2), runs)
    _write(CONFIG.replace(seed=3), runs, collapsed=True)  # collapsed: run again
    _write(CONFIG.replace(seed=1, epochs=2), runs)  # another recipe: run again
    _write(CONFIG.replace(seed=4).replace(preset="minilm", model=CONFIG.recipe.model), runs)  # another preset
    results.write_new({"passed": True}, runs, "0-gate-verdict")  # not a result, read first: skipped
    lines = []
    summary, _ = multiseed.run_seeds(CONFIG, [1, 2, 3, 4], **ARGS, runs_dir=runs, aggregates_dir=tmp_path / "agg",
                                     resume=True, log=lines.append)
    assert fake_run == [1, 3, 4]
    assert lines[1] == f"seed 2 (2/4): reusing {kept}"
    assert summary["seeds"] == [1, 2, 3, 4] and summary["per_seed"][1]["accuracy"] == 0.8


def test_without_resume_every_seed_runs_again(fake_run, tmp_path):
    _write(CONFIG.replace(seed=1), tmp_path / "runs")
    multiseed.run_seeds(CONFIG, [1], **ARGS, runs_dir=tmp_path / "runs", aggregates_dir=tmp_path / "agg", log=print)
    assert fake_run == [1]


def test_an_interrupt_says_which_seeds_finished(fake_run, tmp_path):
    with pytest.raises(KeyboardInterrupt) as stopped:
        multiseed.run_seeds(CONFIG, [1, 2, 99, 3], **ARGS,
                            runs_dir=tmp_path / "runs", aggregates_dir=tmp_path / "agg",
                            log=print)
    assert [seed for seed, _ in stopped.value.finished] == [1, 2]
    assert all(path.is_file() for _, path in stopped.value.finished)
    assert fake_run == [1, 2, 99] and not (tmp_path / "agg").exists()


def test_finished_runs_keeps_the_newest_healthy_result_per_seed(tmp_path):
    older = results.write_new(_result(CONFIG.replace(seed=5), accuracy=0.6), tmp_path, "20260101-000000-x")
    newer = results.write_new(_result(CONFIG.replace(seed=5), accuracy=0.7), tmp_path, "20260102-000000-x")
    found = multiseed.finished_runs(CONFIG, tmp_path)
    assert list(found) == [5] and found[5][1] == newer and found[5][0]["metrics"]["accuracy"] == 0.7
    assert older.is_file()


def test_aggregate_refuses_mixed_tasks_and_names_many_seeds_by_count(tmp_path):
    sst2 = CONFIG.replace(task="sst2", seed=2)
    mixed = [_result(CONFIG.replace(seed=1)), _result(sst2)]
    with pytest.raises(GlueReproError, match=r"^runs of several tasks or presets: aggregate each apart$"):
        multiseed.write_aggregate(mixed, [tmp_path / "a.json", tmp_path / "b.json"], tmp_path)
    many = [_result(CONFIG.replace(seed=s)) for s in range(1, 8)]
    _, path = multiseed.write_aggregate(many, [tmp_path / f"{s}.json" for s in range(1, 8)], tmp_path / "agg")
    assert path.name.endswith("-mrpc-tiny-seeds7seeds.json")
    six = [_result(CONFIG.replace(seed=s)) for s in range(1, 7)]
    _, path = multiseed.write_aggregate(six, [tmp_path / f"{s}.json" for s in range(1, 7)], tmp_path / "agg")
    assert path.name.endswith("-mrpc-tiny-seeds1-2-3-4-5-6.json")


@pytest.mark.parametrize("text, message", [("", "is not a seed"), ("1,x", "'x' is not a seed"),
                                           ("1,1", "repeats a seed"), ("3-1", "holds no seed")])
def test_parse_seeds_refuses_what_is_not_a_seed_list(text, message):
    with pytest.raises(GlueReproError, match=message):
        multiseed.parse_seeds(text)


def test_the_aggregate_file_holds_every_field():
    seeds = ((1, 0.8, False), (2, 0.6838, True), (3, 0.82, False))
    runs = [_result(CONFIG.replace(seed=s), accuracy=a, collapsed=c) for s, a, c in seeds]
    runs[0] = {k: v for k, v in runs[0].items() if k != "task"}  # schema-1 runs have no task: MRPC
    summary = multiseed.aggregate(runs, ["a.json", "b.json", "c.json"])
    assert list(summary) == ["schema_version", "created", "task", "config", "same_recipe", "seeds", "num_runs",
                             "num_collapsed", "collapsed_seeds", "per_seed", "summary", "files"]
    assert summary["schema_version"] == results.SCHEMA_VERSION and summary["created"]
    assert summary["task"] == "mrpc" and summary["config"] == {k: v for k, v in CONFIG.to_dict().items() if k != "seed"}
    assert summary["same_recipe"] and summary["seeds"] == [1, 2, 3] and summary["num_runs"] == 3
    assert summary["num_collapsed"] == 1 and summary["collapsed_seeds"] == [2]
    assert summary["per_seed"][1] == {"seed": 2, "collapsed": True, "accuracy": 0.6838, "f1": pytest.approx(0.7338)}
    assert summary["summary"]["accuracy"]["n"] == 2 and summary["summary"]["accuracy"]["mean"] == pytest.approx(0.81)
    assert summary["files"] == ["a.json", "b.json", "c.json"]


def test_the_aggregate_is_of_the_runs_task():
    runs = [_result(CONFIG.replace(task="sst2", seed=s)) for s in (1, 2)]
    assert multiseed.aggregate(runs)["task"] == "sst2"
