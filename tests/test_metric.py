import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from glue_repro import metric
from glue_repro.tasks import TASKS


@st.composite
def class_pairs(draw, classes=2):
    refs = draw(st.lists(st.integers(0, classes - 1), min_size=1, max_size=200))
    preds = draw(st.lists(st.integers(0, classes - 1), min_size=len(refs), max_size=len(refs)))
    return preds, refs


@st.composite
def score_pairs(draw):
    n = draw(st.integers(3, 100))
    scores = st.floats(0, 5, allow_nan=False, width=32)
    refs = draw(st.lists(scores, min_size=n, max_size=n))
    preds = draw(st.lists(st.one_of(scores, st.sampled_from([1.0, 2.5])), min_size=n, max_size=n))
    return preds, refs


@given(class_pairs())
@settings(max_examples=200, deadline=None)
def test_accuracy_and_f1_match_sklearn(pair):
    preds, refs = pair
    scores = metric.glue("mrpc", preds, refs)
    assert scores["accuracy"] == pytest.approx(accuracy_score(refs, preds), abs=1e-12)
    assert scores["f1"] == pytest.approx(f1_score(refs, preds, zero_division=0.0), abs=1e-12)
    assert all(type(v) is float for v in scores.values())  # JSON-safe


@given(st.one_of(class_pairs(2), class_pairs(3)))
@settings(max_examples=200, deadline=None)
def test_matthews_correlation_matches_sklearn(pair):
    preds, refs = pair
    got = metric.glue("cola", preds, refs)["matthews_correlation"]
    assert got == pytest.approx(matthews_corrcoef(refs, preds), abs=1e-12)
    assert type(got) is float


@given(score_pairs())
@settings(max_examples=200, deadline=None)
def test_pearson_and_spearman_match_scipy(pair):
    preds, refs = pair
    got = metric.glue("stsb", preds, refs)
    constant = len(set(preds)) == 1 or len(set(refs)) == 1
    if constant:  # undefined: scipy gives NaN, and so does the metric
        assert math.isnan(got["pearson"]) and math.isnan(got["spearmanr"])
        return
    assert got["pearson"] == pytest.approx(pearsonr(preds, refs)[0], abs=1e-6)
    assert got["spearmanr"] == pytest.approx(spearmanr(preds, refs)[0], abs=1e-6)


@pytest.mark.parametrize(
    "config, preds, refs, want",
    [
        # 3 of 4 right; tp 2, fp 1, fn 0: F1 = 4 / 5
        ("mrpc", [1, 0, 1, 1], [1, 0, 0, 1], {"accuracy": 0.75, "f1": 0.8}),
        ("qqp", [0, 0, 1], [0, 1, 1], {"accuracy": 2 / 3, "f1": 2 / 3}),
        # tp 2, tn 1, fp 1, fn 0: (2*1 - 1*0) / sqrt(3 * 2 * 2 * 1) = 2 / sqrt(12)
        ("cola", [1, 0, 1, 1], [1, 0, 0, 1], {"matthews_correlation": 2 / math.sqrt(12)}),
        # ranks equal, values not on a line
        ("stsb", [1.0, 2.0, 4.0], [1.0, 2.0, 3.0], {"pearson": 0.9819805060619657, "spearmanr": 1.0}),
        ("sst2", [1, 1, 0, 0], [1, 0, 0, 0], {"accuracy": 0.75}),
        ("rte", [0, 1], [1, 1], {"accuracy": 0.5}),
        ("wnli", [0], [0], {"accuracy": 1.0}),
        ("qnli", [1, 0], [1, 0], {"accuracy": 1.0}),
        ("mnli", [0, 1, 2], [0, 2, 2], {"accuracy": 2 / 3}),
        ("mnli_matched", [2], [2], {"accuracy": 1.0}),
        ("mnli_mismatched", [2], [1], {"accuracy": 0.0}),
        ("hans", [1, 1], [1, 0], {"accuracy": 0.5}),
    ],
)
def test_every_glue_config_on_hand_checked_inputs(config, preds, refs, want):
    got = metric.glue(config, preds, refs)
    assert list(got) == list(want)
    assert got == pytest.approx(want, abs=1e-12)


def _imported_glue(config_name: str):
    """The module's class imported from the package, as mutation testing sees it (evaluate.load copies the file)."""
    from glue_repro.evaluate_modules.glue.glue import Glue

    return Glue(config_name=config_name)


@pytest.mark.parametrize("load", [lambda spec: metric.load_metric(spec), lambda spec: _imported_glue(spec.name)],
                         ids=["evaluate.load", "import"])
@pytest.mark.parametrize("task", ["mrpc", "cola", "stsb"])
def test_evaluate_module_equals_pure_functions(task, load):
    spec = TASKS[task]
    rng = np.random.default_rng(0)
    if spec.is_regression:
        preds, refs = rng.uniform(0, 5, 50).astype(np.float32), rng.uniform(0, 5, 50).astype(np.float32)
    else:
        preds, refs = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    module = load(spec)
    assert module.features["predictions"].dtype == module.features["references"].dtype == (
        "float32" if spec.is_regression else "int64")
    got = module.compute(predictions=preds, references=refs)
    assert got == pytest.approx(metric.scores(spec, preds, refs), abs=1e-12)


def test_the_evaluate_module_names_its_known_configs_for_an_unknown_one():
    with pytest.raises(KeyError, match=r"unknown GLUE config 'nope'; known: mrpc, sst2, cola, .*, hans"):
        _imported_glue("nope")


def test_the_collapse_level_on_real_mrpc_validation_is_every_pair_equivalent(mrpc):
    """The brief's figures: a collapsed MRPC run scores exactly 0.6838 / 0.8122."""
    refs = mrpc["validation"]["label"]
    level = metric.collapse_level(TASKS["mrpc"], refs)
    assert level == metric.scores(TASKS["mrpc"], [1] * len(refs), refs)
    assert (round(level["accuracy"], 4), round(level["f1"], 4)) == (0.6838, 0.8122)
    assert metric.is_collapsed(TASKS["mrpc"], [1] * len(refs))


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


@given(arrays(np.float32, st.tuples(st.integers(1, 50), st.integers(2, 3)),
              elements=st.one_of(finite, st.sampled_from([0.0, 1.0]))))
@settings(max_examples=200, deadline=None)
def test_argmax_matches_reference_ties_included(logits):
    spec = TASKS["mnli"] if logits.shape[1] == 3 else TASKS["mrpc"]
    assert metric.predictions_from_outputs(spec, logits).tolist() == _argmax_reference(logits.tolist())


def test_regression_predictions_are_the_single_output():
    logits = np.array([[4.5], [0.25], [2.0]], np.float32)
    assert metric.predictions_from_outputs(TASKS["stsb"], logits).tolist() == [4.5, 0.25, 2.0]


def test_collapse_detection():
    mrpc, stsb = TASKS["mrpc"], TASKS["stsb"]
    assert metric.is_collapsed(mrpc, np.ones(408, int))
    assert metric.is_collapsed(mrpc, np.zeros(3, int))
    assert not metric.is_collapsed(mrpc, [0, 1])
    assert metric.is_collapsed(stsb, np.full(100, 2.7) + np.linspace(0, 0.02, 100))  # std 0.006
    assert not metric.is_collapsed(stsb, np.linspace(0, 5, 100))


def _log_softmax_reference(logits):
    """Per row, in Python floats: log(exp(x_i) / sum_j exp(x_j)), shifted by the row's max."""
    out = []
    for row in logits:
        top = max(row)
        total = math.log(sum(math.exp(x - top) for x in row))
        out.append([x - top - total for x in row])
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_cross_entropy_against_a_hand_computation_in_any_logit_dtype(dtype):
    logits = np.array([[2.0, -1.0], [0.5, 0.25], [-3.0, 4.0]], dtype=dtype)  # three rows: shapes cannot broadcast
    labels = [0, 1, 0]
    rows = _log_softmax_reference(logits.astype(np.float64).tolist())
    want = -sum(rows[i][y] for i, y in enumerate(labels)) / 3
    assert metric.loss(TASKS["mrpc"], logits, labels) == pytest.approx(want, rel=1e-13)  # computed in float64


def test_cross_entropy_is_stable_for_large_logits_in_every_row():
    logits = np.array([[1000.0, 999.0], [-1000.0, -1001.0], [0.0, 0.0]])
    rows = _log_softmax_reference(logits.tolist())
    want = -(rows[0][1] + rows[1][0] + rows[2][1]) / 3
    assert metric.loss(TASKS["mrpc"], logits, [1, 0, 1]) == pytest.approx(want, rel=1e-12)


def test_mean_squared_error_in_float64_whatever_the_dtype():
    scores = np.array([[1.1], [2.7], [4.05]], dtype=np.float16)
    labels = np.array([1.0, 3.0, 4.0], dtype=np.float32)
    want = sum((float(s) - float(y)) ** 2 for s, y in zip(scores[:, 0], labels, strict=True)) / 3
    assert metric.loss(TASKS["stsb"], scores, labels) == pytest.approx(want, rel=1e-13)


def test_validation_scores_are_the_loss_and_the_tasks_metrics():
    got = metric.validation_scores(TASKS["mrpc"], [[0.0, 1.0], [1.0, 0.0], [0.0, 2.0]], [1, 1, 1])
    assert list(got) == ["loss", "accuracy", "f1"]
    assert got["loss"] == pytest.approx(metric.loss(TASKS["mrpc"], [[0.0, 1.0], [1.0, 0.0], [0.0, 2.0]], [1, 1, 1]))
    assert got["accuracy"] == pytest.approx(2 / 3)


def test_regression_collapse_threshold_is_strict():
    stsb = TASKS["stsb"]
    at = np.array([-1.0, 1.0]) * metric.REGRESSION_COLLAPSE_STD  # std exactly the threshold
    assert float(np.std(at)) == metric.REGRESSION_COLLAPSE_STD
    assert not metric.is_collapsed(stsb, at)
    assert metric.is_collapsed(stsb, at * 0.999)


def test_pearson_of_float32_inputs_is_computed_in_float64():
    x = np.array([0.1, 0.7, 0.2, 0.9, 0.35], dtype=np.float32)
    y = np.array([0.3, 0.5, 0.1, 0.8, 0.45], dtype=np.float32)
    a, b = x.astype(np.float64) - x.astype(np.float64).mean(), y.astype(np.float64) - y.astype(np.float64).mean()
    want = float(a @ b / math.sqrt((a @ a) * (b @ b)))
    assert metric.pearson(x, y) == pytest.approx(want, rel=1e-14)
    assert metric.pearson(y, x) == pytest.approx(want, rel=1e-14)


def test_pearson_edge_values():
    assert metric.pearson([-1.0, 1.0], [-0.5, 0.5]) == 1.0  # the denominator is exactly 1
    up = [-1.889, -0.175, -0.422, 0.214, 0.217, 2.118]  # rounding puts the raw ratio a hair above 1
    assert metric.pearson(up, [3 * v for v in up]) == 1.0
    down = [-0.537, 0.581, 0.365, 0.294, 0.028]  # and this one a hair below -1
    assert metric.pearson(down, [-0.7 * v for v in down]) == -1.0


def test_pearson_of_proportional_scores_is_exactly_one_though_float_sums_reach_past_it():
    # Which vectors round past 1 depends on the BLAS kernel (AVX2, AVX-512): find one here, as pearson computes.
    rng = np.random.default_rng(1)
    for _ in range(10_000):
        x = rng.normal(size=int(rng.integers(3, 9)))
        y = x * rng.uniform(0.1, 10)
        xc, yc = x - x.mean(), y - y.mean()
        if (xc @ yc) / np.sqrt((xc @ xc) * (yc @ yc)) > 1.0:  # the rounding the clip is there for
            break
    else:
        pytest.fail("no proportional pair rounded past 1 in 10,000 draws")
    assert metric.pearson(x, y) == 1.0
