"""Multi-seed orchestration in process: which seeds run, which are reused, what the aggregate lists.

Most replace `run` itself by a stand-in that writes a result file, to check the orchestration
alone; the `costly` ones at the end run the real thing in their own processes.
"""

import json
from pathlib import Path

import pytest

from glue_repro import cli, multiseed, results, schema
from glue_repro.config import TINY_PRESET
from glue_repro.errors import GlueReproError

CONFIG = TINY_PRESET.replace(limit=24, epochs=1)
ARGS = {"data_dir": "DATA", "command": ["glue-repro", "run"]}  # passed through to each run


def _result(config, accuracy=0.8, collapsed=False) -> dict:
    return {key: None for key in schema.Result.__annotations__} | {
        "schema_version": schema.SCHEMA_VERSION, "task": config.recipe.task, "label": config.label,
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
    assert json.loads(path.read_text())["kind"] == "aggregate"
    written = results.load(path, "aggregate")  # in the envelope, with every field of its record
    assert written["schema_version"] == schema.SCHEMA_VERSION and written["git"] and written["device"]["cpu"]


def test_resume_reuses_results_of_the_same_recipe_only_collapsed_ones_too(fake_run, tmp_path):
    runs = tmp_path / "runs"
    kept = _write(CONFIG.replace(seed=2), runs)
    collapsed = _write(CONFIG.replace(seed=3), runs, collapsed=True)  # a finished outcome: kept, not rerun
    _write(CONFIG.replace(seed=1, epochs=2), runs)  # another recipe: run again
    _write(CONFIG.replace(seed=4).replace(preset="minilm", model=CONFIG.recipe.model), runs)  # another preset
    results.write_new({"passed": True}, runs, "0-gate-verdict")  # not a result, read first: skipped
    verdict = dict.fromkeys(schema.Verdict.__annotations__) | {"kind": "gate", "passed": True, "reasons": []}
    results.write_new(verdict, runs, "1-gate-verdict")  # another kind, read before the runs: passed over
    lines = []
    summary, _ = multiseed.run_seeds(CONFIG, [1, 2, 3, 4], **ARGS, runs_dir=runs, aggregates_dir=tmp_path / "agg",
                                     resume=True, log=lines.append)
    assert fake_run == [1, 4]
    assert lines[1] == f"seed 2 (2/4): reusing {kept}" and lines[2] == f"seed 3 (3/4): reusing {collapsed}"
    assert summary["seeds"] == [1, 2, 3, 4] and summary["per_seed"][1]["accuracy"] == 0.8
    assert summary["collapsed_seeds"] == [3]


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


def test_the_aggregate_file_holds_every_field():
    seeds = ((1, 0.8, False), (2, 0.6838, True), (3, 0.82, False))
    runs = [_result(CONFIG.replace(seed=s), accuracy=a, collapsed=c) for s, a, c in seeds]
    summary = multiseed.aggregate(runs, ["a.json", "b.json", "c.json"])
    envelope = schema.Envelope.__annotations__
    assert list(summary) == [key for key in schema.Aggregate.__annotations__ if key not in envelope]
    assert summary["task"] == "mrpc" and summary["config"] == {k: v for k, v in CONFIG.to_dict().items() if k != "seed"}
    assert summary["same_recipe"] and summary["seeds"] == [1, 2, 3] and summary["num_runs"] == 3
    assert summary["num_collapsed"] == 1 and summary["collapsed_seeds"] == [2]
    assert summary["per_seed"][1] == {"seed": 2, "collapsed": True, "accuracy": 0.6838, "f1": pytest.approx(0.7338)}
    assert summary["summary"]["accuracy"]["n"] == 2 and summary["summary"]["accuracy"]["mean"] == pytest.approx(0.81)
    assert summary["files"] == ["a.json", "b.json", "c.json"]


def test_the_aggregate_is_of_the_runs_task():
    runs = [_result(CONFIG.replace(task="sst2", seed=s)) for s in (1, 2)]
    assert multiseed.aggregate(runs)["task"] == "sst2"


def _tiny_runs(launcher, glue_dir, out, *seed_args) -> dict[int, dict]:
    """One `glue-repro run` process over MRPC's first rows; its results by seed."""
    argv = ["run", "--preset", "tiny", "--limit", "24", "--epochs", "1", "--deterministic", "--quiet", "--data-dir",
            str(glue_dir), "--results-dir", str(out / "runs"), "--aggregates-dir", str(out / "aggregates"), *seed_args]
    done = launcher.run(argv, out / "io", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return {r["seed"]: r for r in (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))}


@pytest.mark.costly
def test_deterministic_runs_give_bit_identical_logits(glue_dir, tmp_path, launcher):
    # Separate processes: op determinism is process-wide and cannot be switched off again.
    first = _tiny_runs(launcher, glue_dir, tmp_path / "a", "--seeds", "5,6")
    second = _tiny_runs(launcher, glue_dir, tmp_path / "b", "--seed", "5")
    assert first[5]["deterministic"] and second[5]["deterministic"]
    assert first[5]["logits_sha256"] == second[5]["logits_sha256"]
    assert first[5]["history"] == second[5]["history"]
    assert first[6]["logits_sha256"] != first[5]["logits_sha256"]  # the check can fail


def _run(seed, accuracy, f1, collapsed=False):
    return {"seed": seed, "collapsed": collapsed, "metrics": {"accuracy": accuracy, "f1": f1}, "task": "mrpc",
            "config": {"preset": "tiny", "seed": seed, "epochs": 1}}


def test_aggregate_against_hand_computed_values():
    summary = multiseed.aggregate([_run(1, 0.80, 0.86), _run(2, 0.82, 0.88), _run(3, 0.84, 0.90)])
    acc = summary["summary"]["accuracy"]
    # mean 0.82; std sqrt(((-.02)^2 + 0 + .02^2) / 2) = 0.02; t(0.975, 2) = 4.302653;
    # half width 4.302653 * 0.02 / sqrt(3) = 0.049683
    assert acc["mean"] == pytest.approx(0.82) and acc["std"] == pytest.approx(0.02)
    assert acc["ci95_low"] == pytest.approx(0.770317, abs=1e-6)
    assert acc["ci95_high"] == pytest.approx(0.869683, abs=1e-6)
    assert (acc["min"], acc["max"], acc["n"]) == (0.80, 0.84, 3)
    assert summary["summary"]["f1"]["mean"] == pytest.approx(0.88)
    assert summary["same_recipe"] and summary["num_collapsed"] == 0


def test_collapsed_runs_are_counted_apart_not_averaged():
    summary = multiseed.aggregate([_run(1, 0.80, 0.86), _run(2, 0.6838, 0.8122, collapsed=True), _run(3, 0.84, 0.90)])
    assert summary["num_collapsed"] == 1 and summary["collapsed_seeds"] == [2]
    assert summary["summary"]["accuracy"]["mean"] == pytest.approx(0.82)
    assert summary["summary"]["accuracy"]["n"] == 2
    assert [row["collapsed"] for row in summary["per_seed"]] == [False, True, False]


def test_aggregate_notices_mixed_recipes():
    other = _run(2, 0.8, 0.8)
    other["config"]["epochs"] = 3
    assert not multiseed.aggregate([_run(1, 0.8, 0.8), other])["same_recipe"]


@pytest.mark.costly
def test_cli_seeds_writes_each_run_and_the_aggregate_beside_them(glue_dir, tmp_path, capsys):
    code = cli.main(["run", "--preset", "tiny", "--limit", "10", "--epochs", "1", "--seeds", "1,2",
                     "--data-dir", str(glue_dir), "--results-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    assert len(list((tmp_path / "runs").glob("*seed1.json"))) == 1
    assert len(list((tmp_path / "runs").glob("*seed2.json"))) == 1
    # with --results-dir, everything the run writes goes under it: the aggregate too
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and f"aggregate: {tmp_path / 'runs' / 'aggregates'}/" in out
    (agg,) = list((tmp_path / "runs" / "aggregates").glob("*.json"))
    summary = json.loads(agg.read_text())
    assert summary["seeds"] == [1, 2] and len(summary["files"]) == 2
    assert all(name.startswith("../") and (agg.parent / name).is_file() for name in summary["files"])
    healthy = summary["summary"]["accuracy"]["n"]
    expected = {0: "accuracy: no healthy run", 1: "(one healthy run)", 2: "95% CI"}[healthy]
    assert expected in out and "seed 1 (1/2)" in out and "seed 2 (2/2)" in out

    # `glue-repro aggregate` rebuilds the same aggregate from the run files alone
    assert cli.main(["aggregate", str(tmp_path / "runs"), "--aggregates-dir", str(tmp_path / "rebuilt")]) == 0
    (rebuilt,) = (tmp_path / "rebuilt").glob("*.json")
    again = json.loads(rebuilt.read_text())
    for key in ("seeds", "per_seed", "summary", "num_collapsed", "same_recipe", "config", "task"):
        assert again[key] == summary[key], key
    assert sorted((agg.parent / f).resolve() for f in summary["files"]) == sorted(
        (rebuilt.parent / f).resolve() for f in again["files"])


def test_the_aggregate_command_prints_each_seed_then_each_metric_and_where_it_wrote(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed, accuracy in ((1, 0.80), (2, 0.84)):
        _write(CONFIG.replace(seed=seed), runs, accuracy=accuracy)
    _write(CONFIG.replace(seed=3), runs, accuracy=0.68, collapsed=True)
    assert cli.main(["aggregate", str(runs), "--aggregates-dir", str(tmp_path / "agg")]) == 0
    [path] = (tmp_path / "agg").glob("*.json")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["seed", "accuracy", "f1", "collapsed"]
    assert [line.split() for line in lines[1:4]] == [["1", "0.8000", "0.8500"], ["2", "0.8400", "0.8900"],
                                                     ["3", "0.6800", "0.7300", "yes"]]
    assert lines[4].startswith("accuracy: mean 0.8200 +- 0.0283 (std), 95% CI [0.")
    assert lines[4].endswith("min 0.8000, max 0.8400, n=2")
    assert lines[6:] == ["collapsed runs: 1 of 3", f"aggregate: {path}"]


def test_the_aggregate_says_when_one_or_no_seed_is_healthy(tmp_path, capsys):
    for seeds, line in (((1,), "accuracy: 0.8000 (one healthy run)"), ((2, 3), "accuracy: no healthy run")):
        runs = tmp_path / f"runs{len(seeds)}"
        for seed in seeds:
            _write(CONFIG.replace(seed=seed), runs, collapsed=len(seeds) > 1)
        assert cli.main(["aggregate", str(runs), "--aggregates-dir", str(tmp_path / "agg")]) == 0
        assert line in capsys.readouterr().out.splitlines()
