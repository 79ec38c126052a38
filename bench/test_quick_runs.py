"""Whole quick runs side by side: the suite's pipelines and the PyTorch peer, on the same rows.

A quick run is what a user pays for a first look: one epoch over the first
GLUE_REPRO_BENCH_QUICK_ROWS MRPC training rows (1,000), validated and predicted on all 408,
start-up included. Each row times one whole process; `extra_info` holds the fit and predict
figures the process measured itself (fit includes the per-epoch validation on both sides).

The peer runs only when GLUE_REPRO_BENCH_PEER_PYTHON names the python of a venv with torch
(`../shared/peers/torch_trainer.py`'s header says how to make one; the suite never imports
torch); the suite's rows run whenever GLUE_REPRO_BENCH_QUICK=1 or the peer is given.
On a CPU with AMX or AVX512-BF16 both sides also run in their bfloat16 matmul modes (the
suite's --matmul-precision bfloat16, PyTorch's float32 matmul precision "medium").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glue_repro import model, runtime
from glue_repro.config import MINILM

REPO = Path(__file__).resolve().parents[1]
PEER_PYTHON = os.environ.get("GLUE_REPRO_BENCH_PEER_PYTHON")
PEER_SCRIPT = Path(os.environ.get("GLUE_REPRO_BENCH_PEER_SCRIPT",
                                  REPO.parent / "shared" / "peers" / "torch_trainer.py"))
QUICK_ROWS = int(os.environ.get("GLUE_REPRO_BENCH_QUICK_ROWS", "1000"))
QUICK_ROUNDS = int(os.environ.get("GLUE_REPRO_BENCH_QUICK_ROUNDS", "1"))
WANTED = bool(PEER_PYTHON) or os.environ.get("GLUE_REPRO_BENCH_QUICK") == "1"
THREADS = os.cpu_count() or 1
BF16_MATMUL = ["--matmul-precision", "bfloat16"]

pytestmark = pytest.mark.skipif(not WANTED, reason="set GLUE_REPRO_BENCH_QUICK=1 or GLUE_REPRO_BENCH_PEER_PYTHON")


def _suite(glue_dir, tmp_path, options: list[str]) -> dict:
    out = tmp_path / "suite"
    cmd = [sys.executable, "-m", "glue_repro.cli", "run", "--preset", "minilm", "--epochs", "1", "--train-rows",
           str(QUICK_ROWS), "--seed", "42", "--quiet", "--data-dir", str(glue_dir), "--results-dir", str(out)]
    done = subprocess.run([*cmd, *options], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    t = result["timing"]
    return {"fit_seconds": t["fit_seconds"], "fit_examples_per_second": t["fit_examples_per_second"],
            "first_epoch_seconds": t["epoch_seconds"][0], "predict_seconds": t["predict_seconds"],
            "predict_examples_per_second": t["predict_examples_per_second"], **result["metrics"]}


def _peer(glue_dir, tmp_path, mode: str | None) -> dict:
    env = {**os.environ, "CKPT": model.resolve(MINILM), "GLUE_DIR": str(glue_dir), "EPOCHS": "1", "SEED": "42",
           "LIMIT": str(QUICK_ROWS), "THREADS": str(THREADS), "OUT": str(tmp_path / "peer.json")}
    script = [str(REPO / "tools" / "peer_precision.py"), mode, str(PEER_SCRIPT)] if mode else [str(PEER_SCRIPT)]
    done = subprocess.run([PEER_PYTHON, *script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((tmp_path / "peer.json").read_text())


SIDES = {  # side: (runs the peer, the suite's options or the peer's mode, needs the bfloat16 matmul mode)
    "suite": (False, [], False),
    "verbatim": (False, ["--verbatim"], False),
    "pytorch": (True, None, False),
    "suite-bf16-matmul": (False, BF16_MATMUL, True),
    "pytorch-bf16-matmul": (True, "bf16-matmul", True),
}


@pytest.mark.parametrize("side", list(SIDES))
def test_quick_run(benchmark, side, glue_dir, tmp_path):
    is_peer, how, bf16 = SIDES[side]
    if is_peer and not PEER_PYTHON:
        pytest.skip("set GLUE_REPRO_BENCH_PEER_PYTHON to the peer venv's python")
    if bf16 and not runtime.cpu_has_native_bfloat16():
        pytest.skip("this CPU has no AMX or AVX512-BF16 for the bfloat16 matmul mode")
    figures = []

    def whole_run():
        figures.append(_peer(glue_dir, tmp_path, how) if is_peer else _suite(glue_dir, tmp_path, how))

    benchmark.group = f"quick run mrpc minilm, 1 epoch over {QUICK_ROWS} rows"
    benchmark.pedantic(whole_run, rounds=QUICK_ROUNDS, warmup_rounds=0, iterations=1)
    last = figures[-1]
    assert 0.5 <= last["accuracy"] <= 1.0  # a real run, not a crash that printed numbers
    benchmark.extra_info.update(
        side=side, rows=QUICK_ROWS, threads=THREADS, measured_by="the process itself; fit includes validation",
        fit_examples_per_second=sorted(f["fit_examples_per_second"] for f in figures)[len(figures) // 2],
        predict_examples_per_second=sorted(f["predict_examples_per_second"] for f in figures)[len(figures) // 2],
        rounds=figures,
    )
