import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score, f1_score

from glue_repro import metric

labels = st.lists(st.integers(0, 1), min_size=1, max_size=200)


@st.composite
def pairs(draw):
    refs = draw(labels)
    preds = draw(st.lists(st.integers(0, 1), min_size=len(refs), max_size=len(refs)))
    return preds, refs


@given(pairs())
@settings(max_examples=200, deadline=None)
def test_metric_matches_sklearn(pair):
    preds, refs = pair
    scores = metric.mrpc_metrics(preds, refs)
    assert 0.0 <= scores["accuracy"] <= 1.0 and 0.0 <= scores["f1"] <= 1.0
    assert scores["accuracy"] == pytest.approx(accuracy_score(refs, preds), abs=1e-12)
    assert scores["f1"] == pytest.approx(f1_score(refs, preds, zero_division=0.0), abs=1e-12)
    assert all(type(v) is float for v in scores.values())  # JSON-safe


@pytest.fixture(scope="module")
def evaluate_metric():
    return metric.load_metric()


@given(pairs())
@settings(max_examples=25, deadline=None)
def test_evaluate_module_equals_pure_functions(evaluate_metric, pair):
    preds, refs = pair
    got = evaluate_metric.compute(predictions=preds, references=refs)
    assert set(got) == {"accuracy", "f1"}
    want = metric.mrpc_metrics(preds, refs)
    assert got == pytest.approx(want, abs=1e-12)


def test_all_correct(evaluate_metric):
    refs = [0, 1, 1, 0, 1]
    assert evaluate_metric.compute(predictions=refs, references=refs) == {"accuracy": 1.0, "f1": 1.0}


def test_all_equivalent_on_real_validation_is_the_collapse_score(mrpc, evaluate_metric):
    refs = mrpc["validation"]["label"]
    scores = evaluate_metric.compute(predictions=[1] * len(refs), references=refs)
    assert round(scores["accuracy"], 4) == metric.COLLAPSED_MRPC_VALIDATION["accuracy"] == 0.6838
    assert round(scores["f1"], 4) == metric.COLLAPSED_MRPC_VALIDATION["f1"] == 0.8122


def _argmax_reference(logits):
    out = []
    for row in logits:
        best = 0
        for j in range(1, len(row)):
            if row[j] > row[best]:  # strict: ties keep the first index
                best = j
        out.append(best)
    return out


finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@given(arrays(np.float32, st.tuples(st.integers(1, 50), st.just(2)),
              elements=st.one_of(finite, st.sampled_from([0.0, 1.0]))))
@settings(max_examples=200, deadline=None)
def test_argmax_matches_reference_ties_included(logits):
    assert metric.predictions_from_logits(logits).tolist() == _argmax_reference(logits.tolist())


def test_argmax_tie_goes_to_first_class():
    assert metric.predictions_from_logits(np.array([[0.5, 0.5]], np.float32)).tolist() == [0]


def test_collapse_detection():
    assert metric.is_collapsed(np.ones(408, int))
    assert metric.is_collapsed(np.zeros(3, int))
    assert not metric.is_collapsed([0, 1])
