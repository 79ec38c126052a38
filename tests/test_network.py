"""Checks against the Hugging Face Hub (`python -m pytest -m network`, needs network access)."""

import os

import pytest

pytestmark = pytest.mark.network


@pytest.fixture(autouse=True)
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert "HF_HUB_OFFLINE" not in os.environ


def test_hub_and_local_folder_give_the_same_rows(mrpc):
    from glue_repro.data import load_hub

    hub, source = load_hub()
    assert source.revision
    for split in ("train", "validation", "test"):
        assert hub[split].features == mrpc[split].features
        assert hub[split]["sentence1"] == mrpc[split]["sentence1"]
        assert hub[split]["sentence2"] == mrpc[split]["sentence2"]
        assert hub[split]["label"] == mrpc[split]["label"]


def test_shipped_metric_equals_the_hub_metric(mrpc):
    import evaluate

    from glue_repro.metric import load_metric

    refs = mrpc["validation"]["label"]
    preds = [(i * 7) % 3 % 2 for i in range(len(refs))]
    assert load_metric().compute(predictions=preds, references=refs) == evaluate.load("glue", "mrpc").compute(
        predictions=preds, references=refs
    )
