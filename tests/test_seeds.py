import json

import pytest

from glue_repro import cli, multiseed
from glue_repro.errors import GlueReproError


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
    return {"seed": seed, "collapsed": collapsed, "metrics": {"accuracy": accuracy, "f1": f1},
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


@pytest.mark.parametrize(
    "text, message", [("1,x", "'x' is not a seed"), ("1,1", "repeats a seed"), ("", "is not a seed")]
)
def test_bad_seed_lists(text, message):
    with pytest.raises(GlueReproError, match=message):
        multiseed.parse_seeds(text)


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
