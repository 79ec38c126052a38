"""Checks against the Hugging Face Hub (`python -m pytest -m network`, needs network access)."""

import os

import numpy as np
import pytest

from glue_repro import metric
from glue_repro.tasks import TASKS

pytestmark = pytest.mark.network


@pytest.fixture(autouse=True)
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert "HF_HUB_OFFLINE" not in os.environ


@pytest.mark.parametrize("task", [name for name, spec in TASKS.items() if spec.local])
def test_hub_and_local_folder_give_the_same_rows(glue_dir, task):
    from glue_repro.data import load_hub, load_local

    hub, source = load_hub(task)
    local, _ = load_local(glue_dir, task)
    assert source.revision
    for split in local:
        assert hub[split].features == local[split].features, split
        for column in (*TASKS[task].text_columns, "label", "idx"):
            assert hub[split][column] == local[split][column], (split, column)


@pytest.mark.parametrize("config", list(metric.GLUE_CONFIGS))
def test_the_metric_equals_the_hubs_glue_metric(config):
    import evaluate

    rng = np.random.default_rng(0)
    if config == "stsb":
        preds, refs = rng.uniform(0, 5, 200), rng.uniform(0, 5, 200)
    else:
        classes = 3 if config.startswith("mnli") else 2
        preds, refs = rng.integers(0, classes, 200), rng.integers(0, classes, 200)
    want = evaluate.load("glue", config).compute(predictions=preds, references=refs)
    assert metric.glue(config, preds, refs) == pytest.approx(want, abs=1e-6)
