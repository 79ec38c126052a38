"""`glue-repro report` from small result files the tests write: no training."""

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from glue_repro import cli, report, results, schema
from glue_repro.config import MINILM_PRESET, TINY_PRESET


def _run(task, preset_config, seed, metrics, collapsed=False, limit=None, **changes):
    config = preset_config.replace(task=task, seed=seed, limit=limit, **changes)
    return {
        "kind": "run", "schema_version": schema.SCHEMA_VERSION, "collapse_level": None,
        "created": f"2026-11-29T08:{seed:02d}:00+00:00", "task": task,
        "label": config.label, "config": config.to_dict(), "model": None, "seed": seed, "deterministic": False,
        "distribution": None, "resumed_from_epoch": None, "data": {}, "num_examples": {}, "truncated": {},
        "metrics": metrics, "metrics_by_split": {"validation": metrics}, "collapsed": collapsed, "history": {},
        "logits_shape": [2, 2], "logits_sha256": "0" * 64, "logits": [[0, 1], [1, 0]], "predictions": [1, 0],
        "timing": {"fit_seconds": 10.0, "fit_examples_per_second": 20.0, "epoch_seconds": [10.0],
                   "predict_seconds": 1.0, "predict_examples_per_second": 100.0, "peak_gflops": 100.0,
                   "fit_gflops_per_second": 40.0, "predict_gflops_per_second": 70.0, "fit_mfu": 0.4,
                   "predict_mfu": 0.7},
        "versions": {}, "device": {"cpu": "x", "cpu_cores": 2, "gpus": [], "onednn": True},
        "git": {"commit": "abcdef0123", "dirty": False}, "partial_data": bool(limit), "command": None,
        "cell": None, "wall_seconds": 12.0,
    }


@pytest.fixture
def results_dir(tmp_path):
    folder = tmp_path / "results"
    runs = [_run("mrpc", MINILM_PRESET, s, {"accuracy": 0.80 + s / 100, "f1": 0.86 + s / 200}) for s in (1, 2, 3)]
    runs.append(_run("mrpc", MINILM_PRESET, 4, {"accuracy": 0.6838, "f1": 0.8122}, collapsed=True))
    runs.append(_run("stsb", MINILM_PRESET, 1, {"pearson": 0.85, "spearmanr": 0.84}))
    runs.append(_run("mrpc", TINY_PRESET, 5, {"accuracy": 0.5, "f1": 0.6}, limit=16))
    for run in runs:
        results.write_new(run, folder / "runs", f"{run['task']}-{run['label']}-seed{run['seed']}")
    (folder / "runs" / "gate-x.json").write_text(json.dumps({"passed": True, "reasons": []}))
    return folder


@pytest.fixture
def unsaved(monkeypatch):
    """The figures the report draws, kept open instead of saved, and closed after the test."""
    figures = []
    monkeypatch.setattr(report, "_save", lambda fig, out: figures.append(fig) or out)
    yield figures
    for fig in figures:
        report._pyplot().close(fig)


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_report_writes_the_page_and_a_figure_per_task(results_dir, tmp_path):
    found = report.collect([results_dir])
    assert len(found.runs) == 6 and not found.lr_decay and not found.benchmarks
    page = report.write(found, tmp_path / "out")
    figures = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert figures == ["seed-spread-mrpc.png", "seed-spread-stsb.png"]
    for name in figures:
        width, height = _png_size(tmp_path / "out" / name)
        assert 400 <= width <= 2000 and 300 <= height <= 1200
    text = page.read_text()
    linked = sorted(part.split(")")[0] for part in text.split("](")[1:])
    assert linked == ["runs.md", *figures]  # the page links exactly the figures written, and the run table
    assert "No LR-decay result files found" in text and "No benchmark files found" in text
    (mrpc_line,) = [line for line in text.splitlines() if line.startswith("**mrpc**")]
    (stsb_line,) = [line for line in text.splitlines() if line.startswith("**stsb**")]
    assert "Not drawn: 1 run(s) with `--limit`" in mrpc_line and "Not drawn" not in stsb_line  # its own task's
    runs = (tmp_path / "out" / "runs.md").read_text()
    assert runs.count("\n| ") == 1 + 6  # a header and a row per run
    assert "tiny (limit 16)" in runs  # runs with --limit are marked
    assert "(collapsed)" in runs


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_run_table_formats(results_dir, fmt):
    rows = report.run_rows(report.collect([results_dir]).runs)
    text = report.format_rows(rows, fmt)
    if fmt == "json":
        assert [r["seed"] for r in json.loads(text)] == [1, 1, 2, 3, 4, 5]  # by date
        assert {r["MFU fit/predict"] for r in json.loads(text)} == {"0.40/0.70"}
    elif fmt == "csv":
        assert text.splitlines()[0].startswith("date,task,preset") and len(text.splitlines()) == 7
    else:
        assert "accuracy 0.8100 f1 0.8650" in text and "pearson 0.8500" in text


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_cli_report_format_prints_and_writes_nothing(results_dir, tmp_path, capsys, fmt):
    assert cli.main(["report", str(results_dir), "--out", str(tmp_path / "out"), "--format", fmt]) == 0
    assert "mrpc" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_cli_report_writes_the_page_and_says_so(results_dir, tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found" among them
        assert cli.main(["report", str(results_dir), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("wrote ") and (tmp_path / "out" / "REPORT.md").is_file()
    assert cli.main(["report", str(results_dir), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("replaced ")


def test_cli_report_on_a_folder_without_results_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"glue-repro: error: {tmp_path / 'empty'}: no result files to report on\n"
    assert not (tmp_path / "out").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.json").write_text("{}")
    assert cli.main(["report", str(tmp_path / "empty"), str(tmp_path / "other"), "--format", "csv"]) == 2
    assert capsys.readouterr().err == (f"glue-repro: error: {tmp_path / 'empty'}, {tmp_path / 'other'}: no result "
                                       "files to report on (1 unreadable)\n")


def test_cli_report_refuses_an_out_folder_that_is_a_file_before_any_work(results_dir, tmp_path, capsys):
    (tmp_path / "out").write_text("a file")
    assert cli.main(["report", str(results_dir), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"glue-repro: error: --out {tmp_path / 'out'}: ")


def test_cut_runs_are_drawn_as_a_named_group_and_a_task_of_limit_runs_alone_gets_one_line(tmp_path):
    from glue_repro.config import QUICK

    folder = tmp_path / "runs"
    for seed in (1, 2):
        results.write_new(_run("sst2", QUICK, seed, {"accuracy": 0.8}), folder, f"sst2-quick-seed{seed}")
        results.write_new(_run("rte", MINILM_PRESET, seed, {"accuracy": 0.5}, limit=16), folder, f"rte-{seed}")
        results.write_new(_run("wnli", MINILM_PRESET, seed, {"accuracy": 0.5}), folder, f"wnli-{seed}")
    page = report.write(report.collect([folder]), tmp_path / "out").read_text()
    assert "named under their preset: quick, 2,000 rows, 1 epoch." in page
    assert "No rte figure: every rte run used `--limit`" in page
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [  # wnli, after rte, still drawn
        "seed-spread-sst2.png", "seed-spread-wnli.png"]


def test_run_table_names_the_cpu_and_every_field_that_differs_from_the_preset(tmp_path):
    from glue_repro.config import COURSE_SPEED

    folder = tmp_path / "runs"
    plain = _run("mrpc", MINILM_PRESET, 1, {"accuracy": 0.8, "f1": 0.86})
    verbatim = _run("mrpc", MINILM_PRESET, 2, {"accuracy": 0.8, "f1": 0.86})
    verbatim["config"]["speed"] = dataclasses.asdict(COURSE_SPEED)
    mixed = _run("mrpc", MINILM_PRESET, 3, {"accuracy": 0.8, "f1": 0.86}, precision="mixed_bfloat16",
                 learning_rate=1e-4)
    mixed["device"]["cpu"] = "AMD EPYC 9R14"
    mixed["label"] = "minilm"  # as runs were stored before the label named the precision
    for run in (plain, verbatim, mixed):
        results.write_new(run, folder, f"seed{run['seed']}")
    rows = {r["seed"]: r for r in report.run_rows(report.collect([folder]).runs)}
    assert rows[1]["differs from preset"] == "" and rows[1]["preset"] == "minilm"
    assert rows[2]["differs from preset"].startswith("verbatim")
    assert rows[3]["preset"] == "minilm+mixed_bfloat16" and rows[3]["differs from preset"] == "learning_rate=0.0001"
    assert rows[3]["device"] == "AMD EPYC 9R14 (2 cores)" and rows[1]["device"] == "x (2 cores)"


def _name_figures_undrawn(monkeypatch):
    """Each figure's path, undrawn, from stand-ins that take what the real ones take."""
    monkeypatch.setattr(report, "seed_spread", lambda runs, baselines, task, out: out if runs and task else None)
    monkeypatch.setattr(report, "lr_decay_figure", lambda experiment, out: out if experiment["runs"] else None)
    monkeypatch.setattr(report, "throughput_figure", lambda rows, out: out if rows[0]["machine"] in out.name else None)


def test_report_of_the_committed_results(tmp_path, monkeypatch):
    """Every committed result stays readable: the real folder renders without skipping a file (its figures,
    drawn from the same files, are tests/test_figures.py's: here each is only named)."""
    from pathlib import Path

    _name_figures_undrawn(monkeypatch)
    found = report.collect([Path(__file__).resolve().parents[1] / "results"])
    assert found.runs and found.lr_decay and found.benchmarks and found.baselines and found.peers
    assert found.skipped == []
    page = report.write(found, tmp_path / "out").read_text()
    assert "](throughput-cpu-" in page
    assert "## The PyTorch peer" in page and "mrpc-pytorch-minilm" in (tmp_path / "out" / "runs.md").read_text()
    pairs = report.peer_pairs(found.runs, found.peers)
    assert sum(row["pairs"] for row in pairs) == len(found.peers)  # every peer run beside the suite's run
    assert {row["mode"] for row in pairs} == {"float32", "bf16-matmul", "bf16"}


def test_the_committed_page_is_what_the_committed_results_make(tmp_path, monkeypatch):
    """REPORT.md and runs.md as committed equal the page the committed results give now, but for the
    date it was made (figures are checked by their own tests: here each is only named)."""
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "results"
    _name_figures_undrawn(monkeypatch)
    monkeypatch.setattr(report, "write_html", lambda out: None)
    (tmp_path / "measurements.md").write_text("kept by hand")
    report.write(report.collect([committed]), tmp_path)
    for name in ("REPORT.md", "runs.md"):
        made, kept = ((folder / name).read_text().splitlines() for folder in (tmp_path, committed / "report"))
        made, kept = ([line for line in page if not line.startswith("Made ")] for page in (made, kept))
        assert made == kept, f"results/report/{name} is not what the committed results make: run `glue-repro report`"


def test_the_seed_spread_draws_each_recipe_in_its_own_group_and_no_limit_run(tmp_path, monkeypatch):
    whole = [_run("mrpc", MINILM_PRESET, s, {"accuracy": 0.80, "f1": 0.86}) for s in (1, 2)]
    again = _run("mrpc", MINILM_PRESET, 2, {"accuracy": 0.80, "f1": 0.86})
    again["created"] = "2026-11-29T09:00:00+00:00"  # seed 2 rerun: one point, not two
    whole.append(again)
    cut = [_run("mrpc", MINILM_PRESET, 3, {"accuracy": 0.70, "f1": 0.81}, train_rows=1000, epochs=1),
           _run("mrpc", MINILM_PRESET, 4, {"accuracy": 0.71, "f1": 0.82}, epochs=1),
           _run("mrpc", MINILM_PRESET, 5, {"accuracy": 0.72, "f1": 0.83}, limit=16)]
    drawn = []
    real_scatter = None

    def scatter(self, x, y, **kwargs):
        drawn.extend(np.atleast_1d(y))
        return real_scatter(self, x, y, **kwargs)

    import matplotlib.axes

    real_scatter = matplotlib.axes.Axes.scatter
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", scatter)
    report.seed_spread([(tmp_path / "x.json", r) for r in whole + cut], [], "mrpc", tmp_path / "spread.png")
    # the two whole runs (seed 2 once), then each cut recipe in its own group; the --limit run not at all
    assert sorted(drawn) == [0.70, 0.71, 0.80, 0.80, 0.81, 0.82, 0.86, 0.86]
    groups = report.spread_groups([(tmp_path / "x.json", r) for r in whole + cut], "mrpc")
    assert list(groups) == [("minilm", ""), ("minilm", "1 epoch"), ("minilm", "1,000 rows, 1 epoch")]
    rows = report.run_rows([(tmp_path / f"{r['seed']}.json", r) for r in cut])
    assert [row["preset"] for row in rows] == ["minilm (1000 training rows) (1 epoch)", "minilm (1 epoch)",
                                               "minilm (limit 16)"]


def test_the_figure_draws_the_stored_collapse_level_and_the_tasks_reference(tmp_path, monkeypatch):
    """The lines beside the points come from the runs (the collapse level each stored) and the task's row
    (its published reference), not from constants: a task without a reference gets none."""
    import matplotlib.axes

    lines, real = [], matplotlib.axes.Axes.axhline

    def axhline(self, y=0, **kwargs):
        lines.append((round(y, 4), kwargs.get("label")))
        return real(self, y, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "axhline", axhline)
    old = _run("mrpc", MINILM_PRESET, 1, {"accuracy": 0.80, "f1": 0.86})  # before schema 6: no level
    new = _run("mrpc", MINILM_PRESET, 2, {"accuracy": 0.81, "f1": 0.87}, train_rows=100)  # validated on all rows
    new["collapse_level"] = {"accuracy": 0.6838, "f1": 0.8122}
    runs = [(tmp_path / "a.json", old), (tmp_path / "b.json", new)]
    report.seed_spread(runs, [], "mrpc", tmp_path / "mrpc.png")
    collapsed = "majority class for every row (collapsed)"
    assert (0.6838, collapsed) in lines and (0.8122, collapsed) in lines
    assert (0.8578, "published: the course's one bert-base-uncased run (GPU)") in lines
    assert (0.8885, "published: run_glue, bert-base-cased") in lines
    lines.clear()
    rte = _run("rte", MINILM_PRESET, 1, {"accuracy": 0.55})
    report.seed_spread([(tmp_path / "r.json", rte)], [], "rte", tmp_path / "rte.png")
    assert lines == [(0.5, "chance (random guess)"), (0.657, "published: run_glue, bert-base-cased")]  # no level


def test_every_point_and_reference_line_is_inside_the_axes_clear_of_the_frame(tmp_path, monkeypatch):
    """SST-2's published score lies above every seed: its line must not sit on the frame, out of sight."""
    import matplotlib.figure

    axes = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: axes.extend(fig.axes))
    runs = [(tmp_path / f"{s}.json", _run("sst2", MINILM_PRESET, s, {"accuracy": a})) for s, a in ((1, 0.9037),
                                                                                                  (2, 0.8933))]
    for _, run in runs:
        run["collapse_level"] = {"accuracy": 0.5092}  # as measured: pyplot's autoscale then left 0.9232 on the frame
    report.seed_spread(runs, [], "sst2", tmp_path / "sst2.png")
    (ax,) = axes
    low, high = ax.get_ylim()
    levels = [line.get_ydata()[0] for line in ax.get_lines()] + [0.9037, 0.8933]
    assert {0.9232, 0.5092, 0.5} <= set(levels)
    margin = 0.02 * (high - low)
    assert all(low + margin < y < high - margin for y in levels), (ax.get_ylim(), levels)


def test_the_page_links_the_measurements_rather_than_pasting_them(results_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "measurements.md").write_text("# Measurements\n\nA long table.\n")
    page = report.write(report.collect([results_dir]), out).read_text()
    assert "[measurements.md](measurements.md)" in page and "A long table." not in page


def test_the_glue_table_has_a_row_per_preset_and_the_glue_average(tmp_path):
    runs = [_run("mrpc", MINILM_PRESET, s, {"accuracy": a, "f1": f}) for s, a, f in ((1, 0.80, 0.86), (2, 0.82, 0.88))]
    runs.append(_run("mrpc", MINILM_PRESET, 3, {"accuracy": 0.6838, "f1": 0.8122}, collapsed=True))  # not averaged
    runs.append(_run("mrpc", MINILM_PRESET, 4, {"accuracy": 0.5, "f1": 0.5}, limit=16))  # partial: left out
    runs.append(_run("stsb", MINILM_PRESET, 1, {"pearson": 0.84, "spearmanr": 0.86}))
    runs.append(_run("sst2", MINILM_PRESET, 1, {"accuracy": 0.90}, epochs=1))  # the course's exercise: 1 epoch
    runs.append(_run("wnli", MINILM_PRESET, 1, {"accuracy": 0.5634}, collapsed=True))
    runs.append(_run("rte", MINILM_PRESET, 1, {"accuracy": 0.40}, train_rows=100))  # cut training rows: left out
    rows = report.glue_table([(tmp_path / f"{i}.json", r) for i, r in enumerate(runs)])
    minilm, published, run_glue = rows
    assert minilm["preset"] == "minilm" and minilm["device"] == "cpu"
    assert minilm["mrpc"] == "0.8100 +- 0.0141 (2)" and minilm["stsb"] == "0.8400 (1)"
    assert minilm["sst2"] == "0.9000 (1, 1 epoch)" and minilm["wnli"] == "collapsed (1)" and minilm["rte"] == ""
    # GLUE average of mrpc (0.83 + 0.85) / 2 = 0.84, stsb 0.85, sst2 0.90: 86.3 over 3 of the 9 tasks
    assert minilm["GLUE avg"] == "86.3 (3 of 9 tasks)"
    assert published == {"preset": "published: the course's one bert-base-uncased run (GPU)", "device": "",
                         **{task: "" for task in minilm if task not in ("preset", "device", "GLUE avg")},
                         "mrpc": "0.8578", "GLUE avg": "87.9 (1 of 9 tasks)"}
    assert run_glue["preset"] == "published: run_glue, bert-base-cased" and run_glue["mrpc"] == "0.8407"
    assert run_glue["mnli matched"] == "" and run_glue["GLUE avg"] == "78.2 (8 of 9 tasks)"  # no MNLI score kept


def test_mnli_has_a_glue_column_per_validation_split_and_counts_once_in_the_average(tmp_path):
    runs = []
    for seed, matched, mismatched in ((1, 0.70, 0.60), (2, 0.72, 0.64)):
        run = _run("mnli", MINILM_PRESET, seed, {"accuracy": matched})
        run["metrics_by_split"] = {"validation_matched": {"accuracy": matched},
                                   "validation_mismatched": {"accuracy": mismatched}}
        runs.append(run)
    minilm = report.glue_table([(tmp_path / f"{i}.json", r) for i, r in enumerate(runs)])[0]
    assert minilm["mnli matched"] == "0.7100 +- 0.0141 (2)" and minilm["mnli mismatched"] == "0.6200 +- 0.0283 (2)"
    assert "mnli" not in minilm
    assert minilm["GLUE avg"] == "66.5 (1 of 9 tasks)"  # the mean of both splits' means: one task


def test_report_prints_the_glue_table_first_on_the_page_and_alone_with_format(results_dir, tmp_path, capsys):
    page = report.write(report.collect([results_dir]), tmp_path / "out").read_text()
    assert page.index("## The GLUE table") < page.index("## Seed spread")
    assert cli.main(["report", str(results_dir), "--format", "csv", "--table", "glue"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split(",")[:4] == ["preset", "device", "mrpc", "sst2"] and header.endswith("GLUE avg")
    # tiny's only run is partial (--limit): no row; then the published references
    published = "published: the course's one bert-base-uncased run (GPU)"
    import csv

    assert [row[0] for row in csv.reader(lines)] == ["minilm", published, "published: run_glue, bert-base-cased"]
    assert cli.main(["report", str(results_dir), "--format", "csv", "--table", "runs"]) == 0
    assert capsys.readouterr().out.startswith("date,task,preset,")  # a row per run, not the GLUE table


def test_a_glue_table_of_cut_runs_says_why_it_has_no_measured_row(tmp_path):
    cut = [_run("sst2", MINILM_PRESET, s, {"accuracy": 0.8}, train_rows=2000, epochs=1) for s in (1, 2)]
    page = report.write(report.collect([_written(tmp_path / "runs", cut)]), tmp_path / "out").read_text()
    assert "No measured row: all 2 run(s) here cut the training rows or use `--limit`" in page
    whole = _run("sst2", MINILM_PRESET, 3, {"accuracy": 0.8})
    page = report.write(report.collect([_written(tmp_path / "more", [*cut, whole])]), tmp_path / "out2").read_text()
    assert "No measured row" not in page


def _written(folder, runs):
    for run in runs:
        results.write_new(run, folder, f"{run['task']}-{run['label']}-seed{run['seed']}")
    return folder


def test_each_machine_shows_its_newest_benchmark_whatever_order_the_files_come_in(tmp_path):
    """Three measurements of one benchmark on one machine, the newest neither first nor last by name."""
    folder = tmp_path / "benchmarks" / "cpu-Some_CPU-2cores" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    info = {"preset": "minilm", "input_pipeline": "bucketed", "mfu": 0.5}
    for counter, (day, speed) in enumerate([("2026-11-29", 10.0), ("2026-12-02", 30.0), ("2026-11-30", 20.0)], 1):
        bench = {"name": "test_fit[cpu0-minilm-suite]", "params": {"pipeline_name": "suite"},
                 "extra_info": info | {"examples_per_second": speed}}
        data = {"machine_info": {}, "commit_info": {}, "benchmarks": [bench], "datetime": f"{day}T10:00:00"}
        (folder / f"{counter:04d}_abc_{day.replace('-', '')}.json").write_text(json.dumps(data))
    found = report.collect([tmp_path])
    for files in (found.benchmarks, found.benchmarks[::-1]):
        (row,) = report.benchmark_rows(files)
        assert (row["examples_per_second"], row["date"]) == (30.0, "2026-12-02")


# Run in the page by the browser once it has loaded: how many images decoded, how many rows each table has.
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const verdict = document.createElement("pre");
  verdict.id = "verdict";
  verdict.textContent = JSON.stringify({images: images.length,
    decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    rows: [...document.querySelectorAll("table")].map(t => t.tBodies.length ? t.tBodies[0].rows.length : 0)});
  document.body.appendChild(verdict);
});
</script>"""


def _in_chromium(page: Path) -> dict:
    """Load a page in headless Chromium inside a network namespace of its own (it reaches nothing) and read
    back CHECK's verdict."""
    import re
    import shutil
    import subprocess

    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("cannot make a network namespace (unshare -n) to keep the browser off the network")
    checked = page.with_name("checked.html")
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    dom = subprocess.run(["unshare", "-n", browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--virtual-time-budget=10000", "--dump-dom",
                          checked.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="verdict">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(found.group(1))


def test_the_html_page_holds_everything_and_shows_it_in_a_real_browser(results_dir, tmp_path):
    out = tmp_path / "out"
    report.write(report.collect([results_dir]), out)
    html = (out / "REPORT.html").read_text()
    figures = sorted(out.glob("*.png"))
    assert figures and 'src="' + figures[0].name not in html  # every figure embedded, none linked
    verdict = _in_chromium(out / "REPORT.html")
    assert verdict["images"] == verdict["decoded"] == len(figures)
    assert len(verdict["rows"]) >= 2 and min(verdict["rows"]) >= 1  # the GLUE table, the run table, ...
    (out / figures[0].name).write_bytes(b"\x89PNG broken")  # a figure that does not decode is caught
    report.write_html(out)
    assert _in_chromium(out / "REPORT.html")["decoded"] == len(figures) - 1


def _peer(train_rows: int, fit: float, accuracy: float = 0.8) -> dict:
    return {"accuracy": accuracy, "f1": 0.85, "fit_seconds": 100.0, "fit_examples_per_second": fit,
            "predict_seconds": 5.0, "predict_examples_per_second": 50.0, "seed": 42, "epochs": 1,
            "train_rows": train_rows, "torch": "2.x"}


def test_each_peer_run_pairs_with_the_suites_run_just_before_it_of_its_mode_rows_and_seed(tmp_path):
    from glue_repro.config import MINILM_PRESET

    def suite(created: str, fit: float, **changes) -> tuple:
        run = _run("mrpc", MINILM_PRESET, 42, {"accuracy": 0.81, "f1": 0.86}, epochs=1, **changes)
        run["created"], run["timing"]["fit_examples_per_second"] = created, fit
        return tmp_path / "runs" / f"{created}.json", run

    runs = [suite("2026-12-01T10:00:00+00:00", 30.0, train_rows=1000),
            suite("2026-12-01T10:09:30+00:00", 99.0, train_rows=500),  # other rows: never a pair of a 1,000-row peer
            suite("2026-12-01T10:09:00+00:00", 45.0, train_rows=1000),  # the newest before the second peer
            suite("2026-12-01T11:00:00+00:00", 60.0, train_rows=1000, matmul_precision="bfloat16"),
            suite("2026-12-01T12:00:00+00:00", 75.0, train_rows=1000, precision="mixed_bfloat16"),
            suite("2026-12-01T13:00:00+00:00", 88.0, train_rows=1000)]  # after every peer: pairs with none
    folder = tmp_path / "peers"
    peers = [(folder / "20261201-095900-mrpc-pytorch-minilm-e1-rows1000-seed42.json", _peer(1000, 10.0)),  # no suite
             (folder / "20261201-100100-mrpc-pytorch-minilm-e1-rows1000-seed42.json", _peer(1000, 20.0)),  # before
             (folder / "20261201-101000-mrpc-pytorch-minilm-e1-rows1000-seed42.json", _peer(1000, 30.0)),
             (folder / "20261201-110100-mrpc-pytorch-bf16-matmul-minilm-e1-rows1000-seed42.json", _peer(1000, 40.0)),
             (folder / "20261201-120100-mrpc-pytorch-bf16-minilm-e1-rows1000-seed42.json", _peer(1000, 50.0, 0.79))]
    table = report.peer_pairs(runs, peers)
    assert [(row["mode"], row["pairs"], row["fit, suite / peer"]) for row in table] == [
        ("bf16", 1, "1.50x"), ("bf16-matmul", 1, "1.50x"), ("float32", 2, "1.50x (1.50-1.50)")]
    assert {row["budget"] for row in table} == {"1 epoch, 1,000 rows"} and {row["CPU"] for row in table} == {
        "x (2 cores)"}
    assert table[0]["accuracy, suite / peer"] == "0.8100 / 0.7900"


def test_the_peer_table_lists_runs_by_file_name_whatever_their_folder(tmp_path):
    peers = [(tmp_path / "b" / "20261201-090000-mrpc-pytorch-minilm-e1-rows1000-seed42.json", _peer(1000, 10.0)),
             (tmp_path / "a" / "20261202-090000-mrpc-pytorch-minilm-e1-rows1000-seed42.json", _peer(1000, 20.0))]
    assert [row["file"][:8] for row in report.peer_rows(peers)] == ["20261201", "20261202"]


def test_the_throughput_table_lists_fit_then_predict_and_the_test_only_tiny_model_last():
    def row(kind, preset, pipeline="bucketed"):
        return {"kind": kind, "preset": preset, "pipeline": pipeline, "strategy": "default",
                "examples_per_second": 10.0, "slowest": 9.0, "fastest": 11.0, "rounds": 3, "mfu": 0.5,
                "vs_course": None, "date": "2026-12-04"}

    rows = [row("predict", "minilm"), row("fit", "tiny"), row("fit", "minilm", "course"), row("fit", "minilm")]
    lines = report.throughput_table(rows).splitlines()[2:]
    assert [line.split(" | ")[:3] for line in lines] == [
        ["| fit", "minilm", "bucketed"], ["| fit", "minilm", "course"], ["| fit", "tiny", "bucketed"],
        ["| predict", "minilm", "bucketed"]]


def test_a_figure_is_saved_at_100_dpi_into_new_folders_and_then_closed(tmp_path):
    from PIL import Image

    plt = report._pyplot()
    fig = plt.figure(figsize=(3, 2))
    out = report._save(fig, tmp_path / "new" / "folder" / "f.png")
    assert out == tmp_path / "new" / "folder" / "f.png"
    assert Image.open(out).size == (300, 200)  # the size the page lays out
    assert fig.number not in plt.get_fignums()  # a report draws dozens: none left open


def test_a_page_without_results_says_what_is_missing_line_for_line(tmp_path):
    """Every section's empty line and the skipped files, exactly: a reader sees these lines as they are."""
    (tmp_path / "in").mkdir()  # no result in it: a broken file alone
    (tmp_path / "in" / "broken.json").write_text("{")
    page = report.write(report.collect([tmp_path / "in"]), tmp_path / "out" / "new").read_text()  # folders made
    assert page[page.index("## Seed spread"):] == "\n".join([
        "## Seed spread", "", "No run result files found.", "",
        "## LR decay", "", "No LR-decay result files found (`glue-repro lr-decay`).", "",
        "## Throughput", "", "No benchmark files found (`python -m pytest bench/`).", "",
        "Files skipped:", "", f"- {tmp_path}/in/broken.json: not a readable result file (Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1))", ""])
    assert list((tmp_path / "out" / "new").glob("*.png")) == []


def test_a_page_of_limit_runs_alone_says_why_it_has_no_row_no_figure_and_no_lr_decay(tmp_path):
    for seed in (1, 2):
        results.write_new(_run("rte", MINILM_PRESET, seed, {"accuracy": 0.5}, limit=16), tmp_path / "in", f"rte-{seed}")
    page = report.write(report.collect([tmp_path / "in"]), tmp_path / "out").read_text()
    after_table = page[page.index("Each measured row"):]
    assert after_table == "\n".join([
        "Each measured row summarises the newest full run of each seed:", "", "",
        "No measured row: all 2 run(s) here cut the training rows or use `--limit` (see the run table).", "",
        "## Seed spread", "", "No rte figure: every rte run used `--limit` (see the run table).", "",
        "## LR decay", "", "No LR-decay result files found (`glue-repro lr-decay`).", "",
        "## Throughput", "", "No benchmark files found (`python -m pytest bench/`).", "",
        "## Every run", "", "A row per run, 2 of them: [runs.md](runs.md).", ""])
    assert list((tmp_path / "out").glob("*.png")) == []


@pytest.mark.parametrize("fmt, text, one", [
    ("table", "long key  a\n          x|y\n3         wider value", "k\nv"),  # columns as wide as header or cells
    ("markdown", "| long key | a |\n|---|---|\n|  | x\\|y |\n| 3 | wider value  |",
     "| k |\n|---|\n| v |"),  # a | inside a cell escaped
    ("csv", "long key,a\n,x|y\n3,wider value ", "k\nv"),  # Unix line ends, a cell's own spaces kept
    ("json", '[\n  {\n    "long key": null,\n    "a": "x|y"\n  },\n  {\n    "long key": 3,\n    "a": "wider value "\n'
             '  }\n]', '[\n  {\n    "k": "v"\n  }\n]'),
])
def test_each_format_of_the_run_table_exactly(fmt, text, one):
    rows = [{"long key": None, "a": "x|y"}, {"long key": 3, "a": "wider value "}]
    assert report.format_rows(rows, fmt) == text
    assert report.format_rows([], fmt) == ("[]" if fmt == "json" else "no run result files found")
    assert report.format_rows([{"k": "v"}], fmt) == one
    if fmt == "csv":
        assert report.format_rows([{"k": "X"}], fmt) == "k\nX"  # only the line end is cut, not a trailing X


def test_a_run_row_shows_gpus_unknown_presets_and_missing_fields_plainly():
    gpu = _run("mrpc", MINILM_PRESET, 1, {"accuracy": 0.8, "f1": 0.86}, epochs=2)
    gpu["device"]["gpus"] = ["NVIDIA H200", "NVIDIA H200"]
    gpu["git"] = {"commit": None, "dirty": False}
    gpu["timing"] = None
    one = _run("mrpc", MINILM_PRESET, 2, {"accuracy": 0.8, "f1": 0.86}, epochs=1)
    own = _run("mrpc", MINILM_PRESET, 3, {"accuracy": 0.8, "f1": 0.86})
    own["config"]["preset"] = "a preset of a later version"
    own["config"]["speed"]["a later field"] = 1  # fields the preset does not have are not differences
    mine = _run("mrpc", MINILM_PRESET, 4, {"accuracy": 0.8, "f1": 0.86})
    mine["config"]["speed"]["a later field"] = 1
    mine["config"]["recipe"]["another later field"] = 2
    rows = report.run_rows([(Path(f"r{r['seed']}.json"), r) for r in (gpu, one, own, mine)])
    assert rows[0]["device"] == "NVIDIA H200, NVIDIA H200" and rows[0]["commit"] == ""
    assert (rows[0]["fit ex/s"], rows[0]["MFU fit/predict"]) == (None, "")
    assert [r["preset"] for r in rows] == ["minilm (2 epochs)", "minilm (1 epoch)", "minilm", "minilm"]
    assert [r["differs from preset"] for r in rows[2:]] == ["", ""]


def test_a_glue_row_takes_the_presets_epochs_else_the_most_seeds_and_names_its_sources(tmp_path):
    def run(seed, epochs, day, preset="minilm", collapsed=False, commit="abcdef0123"):
        r = _run("sst2", MINILM_PRESET, seed, {"accuracy": 0.8 + seed / 100}, epochs=epochs, collapsed=collapsed)
        r["config"]["preset"], r["created"] = preset, f"2026-11-{day}T08:00:00+00:00"
        r["git"] = {"commit": commit} if commit else None
        return r

    def listed(runs):
        return [(Path(f"{i}.json"), r) for i, r in enumerate(runs)]

    # minilm's own 3 epochs, though the 1-epoch group has more seeds; two runs on two days
    rows = report.glue_table(listed([run(1, 3, 20), run(2, 3, 21, commit=None), run(1, 1, 20), run(2, 1, 20),
                                     run(3, 1, 20)]))
    assert rows[0]["sst2"] == "0.8150 +- 0.0071 (2)"
    assert report.glue_sources(listed([run(1, 3, 20), run(2, 3, 21)])) == [
        "minilm (cpu): 2 runs, seeds 1, 2; 2026-11-20 to 2026-11-21; commit abcdef0"]
    # a preset this version does not know: the epochs with the most seeds, named in the cell
    unknown = [run(1, 2, 20, "gone"), run(2, 2, 20, "gone"), run(3, 5, 20, "gone")]
    assert report.glue_table(listed(unknown))[0]["sst2"] == "0.8150 +- 0.0071 (2, 2 epochs)"
    # every seed collapsed: no score, so no average
    collapsed = report.glue_table([(Path("c.json"), run(1, 3, 20, collapsed=True))])[0]
    assert collapsed["sst2"] == "collapsed (1)" and collapsed["GLUE avg"] == ""
    # the newest run of a seed wins, whatever order its files come in; a run without a date counts as oldest
    old, new, undated = run(1, 3, 20), run(1, 3, 21), run(1, 3, 22)
    new["metrics_by_split"] = {"validation": {"accuracy": 0.9}}
    undated["created"], undated["metrics_by_split"] = None, {"validation": {"accuracy": 0.1}}
    runs = [(Path("a.json"), new), (Path("b.json"), undated), (Path("c.json"), old)]
    assert report.glue_table(runs)[0]["sst2"] == "0.9000 (1)"
    assert report.glue_sources([(Path("u.json"), undated)]) == [
        "minilm (cpu): 1 run, seed 1; ?; commit abcdef0"]
    assert report.glue_sources([(Path("x.json"), run(1, 3, 20, commit=None))])[0].endswith("commit ?")
    undated_first = run(2, 3, 20, commit="1111111")
    undated_first["created"] = None
    assert report.glue_sources([(Path("d.json"), run(1, 3, 21, commit="2222222")), (Path("u.json"), undated_first)])[
        0].endswith("commits 1111111 to 2222222")  # an undated run counts as the oldest


def test_the_glue_average_over_all_nine_tasks_says_nothing_of_missing_tasks():
    from glue_repro.tasks import TASKS

    runs = []
    for seed, (task, spec) in enumerate(TASKS.items(), 1):
        r = _run(task, MINILM_PRESET, seed, {spec.primary_metric: 0.5})
        r["metrics_by_split"] = {split: {spec.primary_metric: 0.5} for split in spec.validation_splits}
        runs.append((Path(f"{task}.json"), r))
    assert report.glue_table(runs)[0]["GLUE avg"] == "50.0"


def test_full_runs_lr_decay_budgets_and_benchmark_rows_read_each_field_by_its_name(tmp_path):
    assert not report.is_full_run({"config": MINILM_PRESET.replace(limit=16).to_dict()})
    recipe = {"recipe": {"train_rows": 500, "epochs": 1}}
    assert report.lr_decay_budget({"task": "sst2", "runs": [{"steps": 63, "config": recipe}]}) == (
        "sst2: 500 training rows x 1 epoch = 63 steps a run")
    assert report.lr_decay_budget({"runs": [{"steps": 63, "config": recipe}]}).startswith("mrpc: 500 training rows")

    folder = tmp_path / "benchmarks" / "cpu-Some_CPU-2cores" / "Linux"
    info = {"preset": "minilm", "input_pipeline": "bucketed", "mfu": 0.5, "examples_per_second": 30.0, "examples": 8}
    quick = {"name": "test_quick_run[minilm]", "extra_info": {}}
    fit = {"name": "test_fit[cpu0-minilm-suite]", "extra_info": info, "stats": {"min": 0.2, "rounds": 5}}
    data = {"commit_info": {}, "benchmarks": [quick, fit], "datetime": "2026-12-02T10:00:00"}  # no machine_info
    (row,) = report.benchmark_rows([(folder / "0001_abc.json", data)])
    assert (row["kind"], row["file"], row["slowest"], row["fastest"]) == ("fit", "0001_abc.json", None, 40.0)
    uncounted = fit | {"extra_info": info | {"examples": None}, "stats": {"min": 0.2, "max": 0.4}}
    (plain,) = report.benchmark_rows([(folder / "0002_abc.json", data | {"benchmarks": [uncounted]})])
    assert (plain["slowest"], plain["fastest"]) == (None, None)  # no example count: no rates per round
    table = report.throughput_table([row | {"vs_course": None}])
    assert table.splitlines()[-1] == "| fit | minilm | bucketed | default | 30.0 |  | 0.50 |  | 2026-12-02 |"


def test_collect_reads_named_files_skips_the_reports_own_folder_and_says_why_a_file_was_skipped(tmp_path):
    run = _run("mrpc", MINILM_PRESET, 1, {"accuracy": 0.8, "f1": 0.86})
    path = results.write_new(run, tmp_path / "runs", "mrpc-minilm-seed1")
    results.write_new(run, tmp_path / "runs" / "report", "a-copy-inside-a-report-folder")
    (tmp_path / "runs" / "list.json").write_text("[1]")  # the loader's own one line
    (tmp_path / "runs" / "old.json").write_text(json.dumps({"kind": "run", "schema_version": 1}))  # a field missing
    found = report.collect([tmp_path / "runs"])
    assert [p for p, _ in found.runs] == [path]
    assert found.skipped == [f"{tmp_path / 'runs' / 'list.json'}: not a readable result file (not a JSON object)",
                             f"{tmp_path / 'runs' / 'old.json'}: unreadable (KeyError('config'))"]
    assert [p for p, _ in report.collect([path]).runs] == [path]  # a file named on its own
    with pytest.raises(report.GlueReproError, match=f"^{tmp_path / 'gone'}: no such file or folder$"):
        report.collect([tmp_path / "gone"])


def test_the_html_page_links_the_folded_run_table_in_place_of_runs_md(results_dir, tmp_path):
    report.write(report.collect([results_dir]), tmp_path / "out")
    page = (tmp_path / "out" / "REPORT.html").read_text()
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>glue_repro report'
                           '</title><style>body {')
    assert '<a href="#every-run">' in page and 'href="runs.md"' not in page and '<details id="every-run">' in page


def test_y_limits_hold_points_below_the_reference_lines_and_a_lone_level():
    plt = report._pyplot()
    fig, ax = plt.subplots()
    ax.scatter([0, 1], [0.1, 0.2])
    ax.axhline(0.5)
    report._pad_y(ax)
    assert ax.get_ylim() == pytest.approx((0.1 - 0.024, 0.5 + 0.024))
    fig2, flat = plt.subplots()
    flat.axhline(0.5)
    flat.scatter([0], [0.5])
    report._pad_y(flat)
    assert flat.get_ylim() == pytest.approx((0.49, 0.51))
    plt.close(fig)
    plt.close(fig2)


def test_a_machine_with_only_tiny_benchmarks_gets_its_table_but_no_figure(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(report, "throughput_figure", lambda rows, out: drawn.append(out.name) or out)
    for machine, preset in (("cpu-A-2cores", "tiny"), ("cpu-B-2cores", "minilm")):
        folder = tmp_path / "benchmarks" / machine / "Linux"
        folder.mkdir(parents=True)
        bench = {"name": "test_fit[cpu0-x-suite]", "extra_info": {"preset": preset, "input_pipeline": "bucketed",
                                                                  "mfu": 0.5, "examples_per_second": 30.0}}
        (folder / "0001_abc.json").write_text(json.dumps({"machine_info": {}, "commit_info": {}, "benchmarks": [bench],
                                                          "datetime": "2026-12-02T10:00:00"}))
    page = report.write(report.collect([tmp_path / "benchmarks"]), tmp_path / "out").read_text()
    assert drawn == ["throughput-cpu-B-2cores.png"] and page.count("| fit | ") == 2


@pytest.mark.parametrize("steps, window", [(5, 1), (25, 2), (30, 3)])
def test_the_lr_decay_figure_smooths_training_loss_over_a_tenth_of_the_steps(steps, window, tmp_path, unsaved):
    """Up to 16 steps a window, a tenth of a run's steps, at least one (then the label says no mean);
    whole steps on the x axes."""
    rng = np.random.default_rng(0)
    runs = [{"arm": arm, "seed": seed, "steps": steps, "config": {"recipe": {"train_rows": 40, "epochs": 1}},
             "train_loss": rng.uniform(0.2, 0.8, steps).tolist(),
             "evals": [{"step": s, "accuracy": rng.uniform(0.5, 0.9)} for s in (2, steps)]}
            for arm in ("constant", "decay") for seed in (1, 2)]
    experiment = {"task": "mrpc", "target_metric": "accuracy", "target": 0.7, "runs": runs,
                  "final": {"constant": {}, "decay": {}},
                  "steps_to_target": {"constant": {"mean_steps": None}, "decay": {"mean_steps": 2.0}}}
    report.lr_decay_figure(experiment, tmp_path / "f.png")
    loss_ax, metric_ax = unsaved[0].axes
    assert loss_ax.get_ylabel() == ("training loss" if window == 1 else f"training loss ({window}-step mean)")
    for line, arm in zip(loss_ax.get_lines(), ("constant", "decay"), strict=True):
        mine = [report._smooth(r["train_loss"], window) for r in runs if r["arm"] == arm]
        np.testing.assert_allclose(line.get_ydata(), np.mean(mine, axis=0))
    unsaved[0].canvas.draw()
    for ax in (loss_ax, metric_ax):
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_a_collapsed_seed_is_a_red_cross_and_two_healthy_seeds_get_their_mean_and_std(tmp_path, unsaved):
    from matplotlib import colors
    from matplotlib.markers import MarkerStyle

    runs = [_run("wnli", MINILM_PRESET, s, {"accuracy": a}, collapsed=s == 3)
            for s, a in ((1, 0.5), (2, 0.6), (3, 0.56))]
    report.seed_spread([(Path(f"{r['seed']}.json"), r) for r in runs], [], "wnli", tmp_path / "f.png")
    (ax,) = unsaved[0].axes
    points = {c.get_offsets()[0][1]: c for c in ax.collections if type(c).__name__ == "PathCollection"}
    for y, (marker, color) in {0.5: ("o", "C0"), 0.6: ("o", "C0"), 0.56: ("x", "C3")}.items():
        shape = MarkerStyle(marker).get_path().transformed(MarkerStyle(marker).get_transform()).vertices
        np.testing.assert_allclose(points[y].get_paths()[0].vertices, shape)
        assert colors.to_hex(points[y].get_edgecolor()[0]) == colors.to_hex(color)
    (bar,) = [line for line in ax.get_lines() if line.get_marker() == "s"]  # the mean of the two healthy seeds
    assert bar.get_ydata()[0] == pytest.approx(0.55)


def test_eight_groups_of_a_one_metric_task_spread_the_legend_over_three_columns(tmp_path, unsaved):
    runs = [_run("wnli", MINILM_PRESET, 1, {"accuracy": 0.5}, epochs=e) for e in range(1, 9)]  # a group per budget
    report.seed_spread([(Path(f"{i}.json"), r) for i, r in enumerate(runs)], [], "wnli", tmp_path / "f.png")
    assert list(unsaved[0].get_size_inches()) == pytest.approx([1.2 * 8, 4.8]) and unsaved[0].legends[0]._ncols == 3
