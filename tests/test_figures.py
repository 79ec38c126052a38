"""Golden figures: each of the report's figures, drawn from committed result files, shows what its
golden description (tests/golden/figures/*.json) says: every point, line, band, colour, style and word.

After a deliberate change to a figure, rewrite the goldens and look at the new figures:
    GLUE_REPRO_UPDATE_GOLDEN=1 python -m pytest tests/test_figures.py
"""

import json
import os
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from glue_repro import report
from tests.figure_spec import LAYOUT, describe, differences

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "figures"
BEFORE = "2026-12-04"  # result files made before this day: later ones do not move the goldens


@pytest.fixture(scope="module")
def committed():
    found = report.collect([ROOT / "results"])
    found.runs = [(p, r) for p, r in found.runs if r["created"] < BEFORE]
    found.benchmarks = [(p, b) for p, b in found.benchmarks if b["datetime"] < BEFORE]
    return found


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Each figure the report draws, described before it is saved and closed."""
    figures = []
    real = report._save

    def save(fig, out):
        figures.append(json.loads(json.dumps(describe(fig))))
        return real(fig, out)

    monkeypatch.setattr(report, "_save", save)
    tight_layout = Figure.tight_layout

    def record_layout(fig, **kwargs):
        setattr(fig, LAYOUT, kwargs)
        return tight_layout(fig, **kwargs)

    monkeypatch.setattr(Figure, "tight_layout", record_layout)
    return figures


def _check(name: str, made: dict) -> None:
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("GLUE_REPRO_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(made, separators=(",", ":")) + "\n")
    found = differences(made, json.loads(golden.read_text()))
    assert not found, f"{name} differs from {golden.name} (first of {len(found)}): " + "; ".join(found[:8])


@pytest.mark.parametrize("task", ["mrpc", "stsb", "wnli"])
def test_seed_spread_figure(committed, drawn, tmp_path, task):
    report.seed_spread(committed.runs, committed.baselines, task, tmp_path / "f.png")
    _check(f"seed-spread-{task}", drawn[0])


@pytest.mark.parametrize("name", ["20261126-000213-minilm-lr-decay"])
def test_lr_decay_figure(committed, drawn, tmp_path, name):
    (experiment,) = [r for p, r in committed.lr_decay if p.stem == name]
    report.lr_decay_figure(experiment, tmp_path / "f.png")
    _check(f"lr-decay-{name}", drawn[0])


@pytest.mark.parametrize("machine", ["cpu-AMD_EPYC-2cores", "cpu-Intel_R_Xeon_R_Processor-2cores"])
def test_throughput_figure(committed, drawn, tmp_path, machine):
    rows = [r for r in report.benchmark_rows(committed.benchmarks) if r["machine"] == machine]
    report.throughput_figure(rows, tmp_path / "f.png")
    _check(f"throughput-{machine}", drawn[0])


def test_a_changed_figure_is_told_apart(committed, drawn, tmp_path):
    """The comparison sees one changed colour, one moved point and one changed word."""
    report.lr_decay_figure(committed.lr_decay[0][1], tmp_path / "f.png")
    made = drawn[0]
    changed = json.loads(json.dumps(made))
    changed["axes"][0]["lines"][0]["color"] = "#000000"
    changed["axes"][1]["lines"][0]["y"][0] += 1e-3
    changed["axes"][1]["title"] += "!"
    assert len(differences(made, changed)) == 3 and differences(made, made) == []
