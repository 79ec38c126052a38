import json
from pathlib import Path

import numpy as np
import pytest

from glue_repro import cli, gate, results, schema
from glue_repro.errors import GlueReproError

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"preset": "minilm-ci", "task": "mrpc", "model": "m", "epochs": 1, "batch_size": 8, "seed": 0,
          "predict_batch_size": 64}


def _run(seed, accuracy, f1, collapsed=False, **config) -> dict:
    return {"seed": seed, "collapsed": collapsed, "metrics": {"accuracy": accuracy, "f1": f1},
            "task": (CONFIG | config)["task"], "config": CONFIG | {"seed": seed} | config,
            "device": {"gpus": [], "cpu": "x", "cpu_cores": 2},
            "versions": {}, "git": {}}


@pytest.fixture
def baseline():
    rng = np.random.default_rng(0)
    acc, f1 = rng.normal(0.80, 0.012, 5), rng.normal(0.86, 0.008, 5)
    return gate.make_baseline([_run(s, a, f) for s, a, f in zip(range(1, 6), acc, f1, strict=True)])


def _drawn(n, shift=0.0, seed=1):
    rng = np.random.default_rng(seed)
    return [_run(s, a + shift, f + shift) for s, a, f in
            zip(range(n), rng.normal(0.80, 0.012, n), rng.normal(0.86, 0.008, n), strict=True)]


def _committed_ci_baseline() -> dict:
    return gate.read_baseline(REPO / "results" / "baselines" / "mrpc-minilm-ci-cpu.json")


def _ci_runs(baseline, rng, accuracy_drop=0.0, together=True) -> list[dict]:
    """CI's 3 runs, drawn from the baseline's own spread (accuracy lowered by `accuracy_drop`)."""
    acc, f1 = baseline["summary"]["accuracy"], baseline["summary"]["f1"]
    z_acc = rng.normal(size=3)
    z_f1 = z_acc if together else rng.normal(size=3)
    runs = [_run(s, acc["mean"] - accuracy_drop + acc["std"] * za, f1["mean"] + f1["std"] * zf)
            for s, za, zf in zip((1, 2, 3), z_acc, z_f1, strict=True)]
    for run in runs:
        run["config"] = {"preset": baseline["preset"], "seed": run["seed"], **baseline["recipe"]}
    return runs


def _fail_rate(accuracy_drop, together=True, trials=4000) -> float:
    baseline, rng = _committed_ci_baseline(), np.random.default_rng(12345)
    return float(np.mean([not gate.judge(_ci_runs(baseline, rng, accuracy_drop, together), baseline)["passed"]
                          for _ in range(trials)]))


@pytest.mark.parametrize("together", [True, False], ids=["metrics-together", "metrics-independent"])
def test_honest_ci_runs_fail_at_most_one_percent_of_the_time(together):
    assert _fail_rate(0.0, together) <= 0.01


def test_a_five_point_accuracy_drop_is_caught_at_least_ninety_percent_of_the_time():
    assert _fail_rate(0.05) >= 0.90


def test_power_for_smaller_drops_is_what_the_readme_states():
    # README: about 24% for a 2-point drop and 63% for a 3-point drop (4,000 simulated CI gates each)
    assert _fail_rate(0.02) == pytest.approx(0.24, abs=0.03)
    assert _fail_rate(0.03) == pytest.approx(0.63, abs=0.03)


def test_the_baseline_runs_themselves_pass(baseline):
    runs = [_run(r["seed"], r["accuracy"], r["f1"]) for r in baseline["per_seed"]]
    assert gate.judge(runs, baseline)["passed"]


def test_a_three_point_regression_fails(baseline):
    verdict = gate.judge(_drawn(3, shift=-0.03), baseline)
    assert not verdict["passed"]
    assert verdict["metrics"]["accuracy"]["verdict"] == "fail"
    assert any("below the floor" in r for r in verdict["reasons"])
    assert verdict["metrics"]["accuracy"]["p_value"] < 0.05  # reported, for information


def test_a_collapsed_run_fails(baseline):
    runs = _drawn(3)[:2] + [_run(9, 0.6838, 0.8122, collapsed=True)]
    verdict = gate.judge(runs, baseline)
    assert not verdict["passed"] and verdict["collapsed_seeds"] == [9]


def test_mismatched_recipe_is_refused(baseline):
    with pytest.raises(GlueReproError, match=r"different recipe from the baseline \(epochs: 3 vs 1\)"):
        gate.judge([_run(1, 0.8, 0.86, epochs=3)], baseline)


def test_other_preset_or_task_is_refused(baseline):
    with pytest.raises(GlueReproError, match="refusing to compare"):
        gate.judge([_run(1, 0.8, 0.86, preset="tiny")], baseline)


def test_predict_batch_size_does_not_count_as_recipe(baseline):
    assert gate.judge([_run(s, 0.80, 0.86, predict_batch_size=8) for s in (1, 2)], baseline)["passed"]


def test_baseline_needs_healthy_runs_of_one_recipe():
    with pytest.raises(GlueReproError, match="collapsed"):
        gate.make_baseline([_run(1, 0.8, 0.86), _run(2, 0.68, 0.81, collapsed=True)])
    with pytest.raises(GlueReproError, match="different recipe"):
        gate.make_baseline([_run(1, 0.8, 0.86), _run(2, 0.8, 0.86, batch_size=32)])


def _write_runs(folder, runs):
    paths = []
    for run in runs:
        full = {key: None for key in schema.Result.__annotations__} | run
        paths.append(str(results.write_new(full, folder, f"seed{run['seed']}")))
    return paths


def test_cli_baseline_then_gate_both_ways(tmp_path, capsys):
    base_files = _write_runs(tmp_path / "base", _drawn(5, seed=7))
    assert cli.main(["baseline", *base_files, "--out", str(tmp_path / "b.json")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"baseline: {tmp_path / 'b.json'}"
    assert cli.main(["baseline", *base_files, "--out", str(tmp_path / "b.json")]) == 2  # never overwritten
    assert capsys.readouterr().err.splitlines()[-1] == (f"glue-repro: error: {tmp_path / 'b.json'}: exists; baselines "
                                                        "are never overwritten (remove it or pass --out)")

    good = _write_runs(tmp_path / "good", [_run(s, 0.797 + 0.002 * s, 0.859) for s in (1, 2, 3)])
    assert cli.main(["gate", *good, "--baseline", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    assert lines[header].split() == ["metric", "baseline", "now", "diff", "floor", "p", "verdict"]
    assert all(line.endswith("pass") for line in lines[header + 1:header + 3]) and lines[header + 3] == "PASS"
    (verdict_file,) = (tmp_path / "good").glob("gate-*.json")
    assert json.loads(verdict_file.read_text())["passed"] is True

    bad = _write_runs(tmp_path / "bad", [_run(s, 0.767 + 0.002 * s, 0.829) for s in (1, 2, 3)])
    assert cli.main(["gate", *bad, "--baseline", str(tmp_path / "b.json")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_gate_with_missing_baseline(tmp_path, capsys):
    files = _write_runs(tmp_path, _drawn(2))
    assert cli.main(["gate", *files, "--baseline", str(tmp_path / "none.json")]) == 2
    assert "no such baseline" in capsys.readouterr().err


def test_other_task_is_refused(baseline):
    with pytest.raises(GlueReproError, match="is minilm-ci/sst2 but the baseline is minilm-ci/mrpc: refusing"):
        gate.judge([_run(1, 0.8, 0.86), _run(2, 0.8, 0.86, task="sst2")], baseline)


def test_default_baseline_path_names_task_preset_and_device():
    assert gate.default_baseline_path(_run(1, 0.8, 0.86)) == results.BASELINES_DIR / "mrpc-minilm-ci-cpu.json"


def test_a_baseline_summarizes_the_tasks_metrics():
    runs = [{**_run(s, 0, 0, task="cola"), "metrics": {"matthews_correlation": m}} for s, m in ((1, 0.4), (2, 0.5))]
    made = gate.make_baseline(runs)
    assert made["task"] == "cola" and list(made["summary"]) == ["matthews_correlation"] and made["kind"] == "baseline"
    assert made["summary"]["matthews_correlation"]["mean"] == pytest.approx(0.45)
    low = [{**_run(s, 0, 0, task="cola"), "metrics": {"matthews_correlation": 0.2}} for s in (3, 4)]
    verdict = gate.judge(low, made)
    assert not verdict["passed"] and list(verdict["metrics"]) == ["matthews_correlation"]


def test_the_committed_ci_baseline_gates_the_committed_ci_runs():
    """Schema-1 files (flat config, MRPC only) stay readable: the baseline and the runs it was made from."""
    from glue_repro.config import recipe_of

    path = REPO / "results" / "baselines" / "mrpc-minilm-ci-cpu.json"
    baseline = gate.read_baseline(path)
    runs = [results.read(p) for p in sorted((REPO / "results" / "runs").glob("20261125-2*-minilm-ci-seed*.json"))]
    assert [r["seed"] for r in runs][:5] == [1, 2, 3, 4, 5]
    assert all(r["task"] == "mrpc" and "recipe" in r["config"] for r in runs)
    assert recipe_of(runs[0]["config"])["epochs"] == recipe_of(baseline["recipe"])["epochs"] == 1
    assert gate.judge(runs[:5], baseline)["passed"]


# Each branch of `judge` on its own: a baseline with a known mean and std, runs placed exactly.
def _fixed_baseline(std=0.02, n=5) -> dict:
    summary = {m: {"mean": mean, "std": std, "n": n} for m, mean in (("accuracy", 0.80), ("f1", 0.86))}
    return {"preset": "minilm-ci", "task": "mrpc", "recipe": _run(1, 0, 0)["config"], "summary": summary,
            "created": "then"}


def _at(accuracy, f1, collapsed=(), seeds=(1, 2, 3)) -> list[dict]:
    return [_run(s, accuracy, f1, collapsed=s in collapsed) for s in seeds]


def test_floor_is_the_stated_number_of_standard_errors_under_the_mean():
    assert gate.FLOOR_STANDARD_ERRORS == 2.2 and gate.MIN_STD == 0.01
    se = 0.02 * np.sqrt(1 / 3 + 1 / 5)
    assert gate.floor({"mean": 0.80, "std": 0.02, "n": 5}, 3) == pytest.approx(0.80 - 2.2 * se, abs=1e-12)
    seven = 0.80 - 2.2 * 0.02 * np.sqrt(1 / 7 + 1 / 5)
    assert gate.floor({"mean": 0.80, "std": 0.02, "n": 5}, 7) == pytest.approx(seven)


def test_a_mean_just_above_the_floor_passes_and_just_below_fails():
    low = gate.floor({"mean": 0.80, "std": 0.02, "n": 5}, 3)
    assert gate.judge(_at(low + 1e-9, 0.86), _fixed_baseline())["passed"]
    verdict = gate.judge(_at(low - 1e-9, 0.86), _fixed_baseline())
    assert not verdict["passed"]
    assert verdict["reasons"] == [f"mean accuracy {low - 1e-9:.4f} is below the floor {low:.4f}"]
    assert [row["verdict"] for row in verdict["metrics"].values()] == ["fail", "pass"]


def test_each_metric_is_held_to_its_own_floor():
    verdict = gate.judge(_at(0.80, 0.80), _fixed_baseline())  # accuracy on the mean, F1 six points low
    assert not verdict["passed"] and len(verdict["reasons"]) == 1 and verdict["reasons"][0].startswith("mean f1")
    assert verdict["metrics"]["accuracy"]["verdict"] == "pass" and verdict["metrics"]["f1"]["verdict"] == "fail"


def test_a_collapsed_run_fails_on_its_own_even_above_the_baseline():
    verdict = gate.judge(_at(0.90, 0.95, collapsed=(2,)), _fixed_baseline())
    assert not verdict["passed"]
    assert verdict["reasons"] == ["seed 2 collapsed (constant predictions)"]
    assert verdict["collapsed_seeds"] == [2] and verdict["seeds"] == [1, 2, 3]
    assert all(row["verdict"] == "pass" for row in verdict["metrics"].values())


def test_a_tiny_baseline_std_is_raised_to_min_std():
    # std 0.001 would put the floor 0.0016 under the mean; MIN_STD puts it 0.016 under
    verdict = gate.judge(_at(0.79, 0.85), _fixed_baseline(std=0.001))
    assert verdict["passed"]
    assert verdict["metrics"]["accuracy"]["floor"] == pytest.approx(0.80 - 2.2 * 0.01 * np.sqrt(1 / 3 + 1 / 5))


def test_the_welch_p_value_is_reported_but_does_not_decide():
    from glue_repro import stats

    runs = [_run(s, a, 0.86) for s, a in ((1, 0.787), (2, 0.788), (3, 0.789))]  # tight, 1.2 points low
    verdict = gate.judge(runs, _fixed_baseline(std=0.01))
    row = verdict["metrics"]["accuracy"]
    assert row["p_value"] == pytest.approx(stats.welch_worse_p([0.787, 0.788, 0.789], 0.80, 0.01, 5))
    assert row["p_value"] < 0.05 and verdict["passed"]  # significant, yet above the floor
    assert row["mean"] == pytest.approx(0.788) and row["difference"] == pytest.approx(-0.012)
    assert (row["baseline_mean"], row["baseline_std"], row["baseline_n"]) == (0.80, 0.01, 5)


def test_a_baseline_needs_two_seeds():
    with pytest.raises(GlueReproError, match="at least two seeds"):
        gate.make_baseline([_run(1, 0.8, 0.86)])
    made = gate.make_baseline([_run(1, 0.8, 0.86), _run(2, 0.82, 0.88)])
    assert made["seeds"] == [1, 2] and made["summary"]["accuracy"]["n"] == 2
    assert made["per_seed"] == [{"seed": 1, "accuracy": 0.8, "f1": 0.86}, {"seed": 2, "accuracy": 0.82, "f1": 0.88}]
    assert made["preset"] == "minilm-ci" and made["task"] == "mrpc" and made["device_class"] == "cpu"


def test_the_table_shows_every_figure_and_the_verdict():
    verdict = gate.judge(_at(0.79, 0.80), _fixed_baseline())
    p_acc = verdict["metrics"]["accuracy"]["p_value"]
    lines = gate.table(verdict).splitlines()
    assert lines[0] == "metric            baseline      now     diff    floor        p  verdict"
    assert lines[1] == f"accuracy    0.8000+-0.0200   0.7900  -0.0100   0.7679 {p_acc:>8.4f}  pass"
    assert lines[2].startswith("f1          0.8600+-0.0200   0.8000  -0.0600   0.8279") and lines[2].endswith("  fail")
    assert lines[3] == "FAIL: mean f1 0.8000 is below the floor 0.8279"
    one = gate.judge(_at(0.80, 0.86, seeds=(1,)), _fixed_baseline())  # one run: no p-value
    assert gate.table(one).splitlines()[1].split()[-2:] == ["n/a", "pass"] and gate.table(one).endswith("\nPASS")


def test_gate_without_baseline_flag_reads_the_default_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(results, "BASELINES_DIR", tmp_path / "baselines")
    files = _write_runs(tmp_path / "runs", _drawn(3))
    assert cli.main(["gate", *files]) == 2
    assert f"{tmp_path / 'baselines' / 'mrpc-minilm-ci-cpu.json'}: no such baseline" in capsys.readouterr().err
    assert cli.main(["baseline", *_write_runs(tmp_path / "base", _drawn(5, seed=7))]) == 0
    assert (tmp_path / "baselines" / "mrpc-minilm-ci-cpu.json").is_file()
    assert cli.main(["gate", *files]) == 0
    assert cli.main(["gate", files[0]]) == 0  # one run finds the same baseline


def test_a_second_gate_never_replaces_the_first_verdict(tmp_path, capsys):
    files = _write_runs(tmp_path / "runs", _drawn(3))
    assert cli.main(["baseline", *_write_runs(tmp_path / "base", _drawn(5, seed=7)), "--out",
                     str(tmp_path / "b.json")]) == 0
    assert cli.main(["gate", *files, "--baseline", str(tmp_path / "b.json")]) == 0
    (first,) = (tmp_path / "runs").glob("gate-*.json")
    before = first.read_text()
    assert cli.main(["gate", *files, "--baseline", str(tmp_path / "b.json")]) == 0
    assert len(list((tmp_path / "runs").glob("gate-*.json"))) == 2 and first.read_text() == before
    stored = json.loads(first.read_text())
    assert stored["baseline"] == str(tmp_path / "b.json") and stored["runs"] == files


def test_a_baseline_records_the_first_runs_provenance():
    first = _run(1, 0.8, 0.86) | {"versions": {"tensorflow": "2.21"}, "git": {"commit": "aaa"}}
    first["device"] = {"gpus": ["H200"], "cpu": "x", "cpu_cores": 2}
    second = _run(2, 0.82, 0.88) | {"versions": {"tensorflow": "2.20"}, "git": {"commit": "bbb"}}
    second["device"] = {"gpus": [], "cpu": "y", "cpu_cores": 4}
    made = gate.make_baseline([first, second])
    assert made["schema_version"] == schema.SCHEMA_VERSION and made["created"]
    assert (made["device_class"], made["device"], made["versions"], made["git"]) == (
        "gpu", first["device"], {"tensorflow": "2.21"}, {"commit": "aaa"})
    assert made["recipe"]["model"] == "m" and made["recipe"]["revision"] is None
    assert gate.default_baseline_path(first).name == "mrpc-minilm-ci-gpu.json"


def test_refusals_say_exactly_what_is_wrong():
    with pytest.raises(GlueReproError, match=r"^a baseline needs runs with at least two seeds$"):
        gate.make_baseline([_run(1, 0.8, 0.86)])
    with pytest.raises(GlueReproError, match=r"^run with seed 2 has a different recipe from the first run \(batch"):
        gate.make_baseline([_run(1, 0.8, 0.86), _run(2, 0.8, 0.86, batch_size=32)])


def test_a_baseline_is_of_one_preset():
    with pytest.raises(GlueReproError, match=r"^runs of presets minilm, minilm-ci: a baseline is of one preset$"):
        gate.make_baseline([_run(1, 0.8, 0.86), _run(2, 0.8, 0.86, preset="minilm")])


def test_a_failed_gate_lists_every_reason():
    verdict = gate.judge(_at(0.70, 0.70, collapsed=(1,)), _fixed_baseline())
    assert gate.table(verdict).splitlines()[-1] == (
        "FAIL: seed 1 collapsed (constant predictions); mean accuracy 0.7000 is below the floor 0.7679; "
        "mean f1 0.7000 is below the floor 0.8279")


def test_the_verdict_goes_beside_the_first_runs(tmp_path):
    first = results.write_new({"x": 1}, tmp_path / "a", "run")
    second = results.write_new({"x": 2}, tmp_path / "b", "run")
    assert gate.write_verdict({"passed": True}, [first, second]).parent == tmp_path / "a"


def test_a_recipe_difference_lists_every_differing_field():
    with pytest.raises(GlueReproError) as refused:
        gate.judge([_run(1, 0.8, 0.86, epochs=2, batch_size=16)], _fixed_baseline())
    assert str(refused.value) == ("run with seed 1 has a different recipe from the baseline "
                                  "(batch_size: 16 vs 8, epochs: 2 vs 1)")


def test_a_mean_exactly_on_the_floor_passes():
    low = gate.floor({"mean": 0.80, "std": 0.02, "n": 5}, 1)
    assert gate.judge(_at(low, 0.86, seeds=(1,)), _fixed_baseline())["passed"]


def test_the_verdict_holds_every_field():
    verdict = gate.judge(_at(0.80, 0.86), _fixed_baseline())
    assert list(verdict) == ["passed", "reasons", "metrics", "seeds", "collapsed_seeds", "baseline_created"]
    assert verdict["baseline_created"] == "then"


def test_a_written_verdict_carries_the_envelope(tmp_path):
    run = results.write_new({"x": 1}, tmp_path, "run")
    verdict = {**gate.judge(_at(0.80, 0.86), _fixed_baseline()), "baseline": "b", "runs": [str(run)]}
    path = gate.write_verdict(verdict, [run])
    assert json.loads(path.read_text())["kind"] == "gate"
    written = results.load(path, "gate")
    assert written["schema_version"] == schema.SCHEMA_VERSION and written["passed"] and written["git"]


def test_a_baseline_file_must_be_a_baseline(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(GlueReproError) as refused:
        gate.read_baseline(tmp_path / "list.json")
    assert str(refused.value) == f"{tmp_path / 'list.json'}: not a readable baseline file (not a JSON object)"
    (tmp_path / "partial.json").write_text(json.dumps({"kind": "baseline", "preset": "p", "task": "mrpc",
                                                       "recipe": {}}))
    with pytest.raises(GlueReproError) as refused:
        gate.read_baseline(tmp_path / "partial.json")
    assert str(refused.value) == (f"{tmp_path / 'partial.json'}: baseline file lacks field(s) device_class, seeds, "
                                  "per_seed, summary")


def test_repeated_runs_of_a_seed_count_once_the_newest(tmp_path, capsys):
    runs = [_run(s, 0.80, 0.86) for s in (1, 2, 3)] + [_run(1, 0.70, 0.80)]
    for i, run in enumerate(runs):
        run |= {"task": "mrpc", "label": "minilm-ci", "created": f"2026-12-0{i + 1}T00:00:00+00:00"}
    files = _write_runs(tmp_path / "runs", runs)
    assert cli.main(["baseline", str(tmp_path / "runs"), "--out", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert f"seed 1: {files[0]} left out, {files[3]} is newer" in out and "over 3 seeds" in out
    baseline = json.loads((tmp_path / "b.json").read_text())
    assert baseline["seeds"] == [1, 2, 3] and baseline["per_seed"][0]["accuracy"] == 0.70


def test_a_baseline_keeps_its_first_runs_provenance():
    runs = [_run(1, 0.80, 0.86), _run(2, 0.81, 0.87)]
    runs[0]["git"], runs[1]["git"] = {"commit": "a", "dirty": False}, {"commit": "b", "dirty": False}
    runs[1]["device"] = {**runs[0]["device"], "cpu": "another"}
    made = gate.make_baseline(runs)
    assert made["git"] == {"commit": "a", "dirty": False} and made["device"]["cpu"] == "x"
