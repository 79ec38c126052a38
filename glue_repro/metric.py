"""Scoring: model outputs to predictions, and the GLUE metric of every task.

The metric computes what `evaluate.load("glue", config)` computes, for every GLUE config, as
small pure functions; the same functions score the validation pass after each epoch and the
final predictions. `load_metric` wraps them as an `evaluate` module that loads offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from glue_repro.tasks import TASKS, TaskSpec

MODULE_PATH = str(Path(__file__).parent / "evaluate_modules" / "glue")
# A regression run counts as collapsed when its predictions spread less than this (label units).
REGRESSION_COLLAPSE_STD = 0.01


def accuracy(predictions, references) -> float:
    """Fraction of predictions that equal their reference.

    >>> accuracy([1, 0, 1, 1], [1, 0, 0, 1])
    0.75
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    return float((predictions == references).mean())


def f1(predictions, references) -> float:
    """F1 of the positive class (1); 0.0 when there are no true positives.

    >>> f1([1, 0, 1, 1], [1, 0, 0, 1])
    0.8
    >>> f1([0, 0], [0, 0])
    0.0
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    tp = int(np.sum((predictions == 1) & (references == 1)))
    fp = int(np.sum((predictions == 1) & (references != 1)))
    fn = int(np.sum((predictions != 1) & (references == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def matthews_correlation(predictions, references) -> float:
    """Matthews correlation of class predictions (any number of classes); 0.0 when undefined.

    >>> matthews_correlation([1, 0, 1, 0], [1, 0, 1, 0])
    1.0
    >>> matthews_correlation([1, 1, 1, 1], [1, 0, 1, 0])  # constant predictions
    0.0
    >>> round(matthews_correlation([1, 0, 1, 1], [1, 0, 0, 1]), 4)  # tp 2, tn 1, fp 1, fn 0
    0.5774
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    classes, codes = np.unique(np.concatenate([references, predictions]), return_inverse=True)
    truth, guess = codes[: len(references)], codes[len(references):]
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(confusion, (truth, guess), 1)
    n, correct = confusion.sum(), np.trace(confusion)
    true_sum, pred_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    cov_tp = correct * n - true_sum @ pred_sum
    cov_pp = n * n - pred_sum @ pred_sum
    cov_tt = n * n - true_sum @ true_sum
    return 0.0 if cov_pp * cov_tt == 0 else float(cov_tp / np.sqrt(cov_tt * cov_pp))


def pearson(predictions, references) -> float:
    """Pearson correlation; NaN when either side is constant (as scipy gives).

    >>> pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]) > 0.98
    True
    """
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float("nan") if denominator == 0 else float(np.clip((x @ y) / denominator, -1.0, 1.0))


def spearmanr(predictions, references) -> float:
    """Spearman rank correlation: Pearson's of the ranks, ties sharing their mean rank.

    >>> spearmanr([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    1.0
    """
    return pearson(rankdata(predictions), rankdata(references))


FUNCTIONS = {"accuracy": accuracy, "f1": f1, "matthews_correlation": matthews_correlation, "pearson": pearson,
             "spearmanr": spearmanr}
# `evaluate`'s glue metric: its configs are the tasks, MNLI's two validation splits apart, and HANS
# (scored as MNLI is).
GLUE_CONFIGS = {name: spec.metrics for name, spec in TASKS.items()} | dict.fromkeys(
    ("mnli_matched", "mnli_mismatched", "hans"), TASKS["mnli"].metrics)


def glue(config: str, predictions, references) -> dict[str, float]:
    """The GLUE metric of one config, as plain floats.

    >>> glue("mrpc", [1, 1, 1], [1, 0, 1])
    {'accuracy': 0.6666666666666666, 'f1': 0.8}
    """
    return {name: FUNCTIONS[name](predictions, references) for name in GLUE_CONFIGS[config]}


def scores(spec: TaskSpec, predictions, references) -> dict[str, float]:
    """The task's metrics of its predictions."""
    return glue(spec.name, predictions, references)


def predictions_from_outputs(spec: TaskSpec, logits) -> np.ndarray:
    """Classes (index of the largest logit, the first on ties) or, for regression, the scores.

    >>> from glue_repro.tasks import TASKS
    >>> predictions_from_outputs(TASKS["mrpc"], [[0.1, 2.0], [3.0, -1.0], [1.0, 1.0]]).tolist()
    [1, 0, 0]
    >>> predictions_from_outputs(TASKS["stsb"], [[4.5], [0.25]]).tolist()
    [4.5, 0.25]
    """
    logits = np.asarray(logits)
    return logits[:, 0] if spec.is_regression else np.argmax(logits, axis=1)


def loss(spec: TaskSpec, logits, labels) -> float:
    """The training loss on these outputs: cross-entropy of logits, or mean squared error.

    >>> from glue_repro.tasks import TASKS
    >>> round(loss(TASKS["mrpc"], np.array([[0.0, 0.0]]), np.array([1])), 4)
    0.6931
    >>> loss(TASKS["stsb"], np.array([[1.0], [3.0]]), np.array([2.0, 2.0]))
    1.0
    """
    logits = np.asarray(logits, dtype=np.float64)
    if spec.is_regression:
        return float(np.mean((logits[:, 0] - np.asarray(labels, dtype=np.float64)) ** 2))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), np.asarray(labels)].mean())


def validation_scores(spec: TaskSpec, logits, labels) -> dict[str, float]:
    """Loss and the task's metrics of outputs against their labels.

    >>> from glue_repro.tasks import TASKS
    >>> validation_scores(TASKS["mrpc"], [[0.0, 0.0], [0.0, 1.0]], [1, 1])["accuracy"]
    0.5
    """
    return {"loss": loss(spec, logits, labels), **scores(spec, predictions_from_outputs(spec, logits), labels)}


def is_collapsed(spec: TaskSpec, predictions) -> bool:
    """True when the model learned nothing: one class for every row, or near-constant scores.

    >>> from glue_repro.tasks import TASKS
    >>> is_collapsed(TASKS["mrpc"], [1, 1, 1]), is_collapsed(TASKS["mrpc"], [1, 0, 1])
    (True, False)
    >>> is_collapsed(TASKS["stsb"], [2.501, 2.5, 2.502]), is_collapsed(TASKS["stsb"], [1.0, 4.0])
    (True, False)
    """
    predictions = np.asarray(predictions)
    if spec.is_regression:
        return float(np.std(predictions)) < REGRESSION_COLLAPSE_STD
    return len(np.unique(predictions)) <= 1


def collapse_level(spec: TaskSpec, references) -> dict[str, float] | None:
    """What a collapsed run scores: the majority class predicted for every row (the first of
    equally common ones); None for regression, whose correlations are undefined there.

    >>> from glue_repro.tasks import TASKS
    >>> collapse_level(TASKS["mrpc"], [1, 1, 0, 1])
    {'accuracy': 0.75, 'f1': 0.8571428571428571}
    >>> collapse_level(TASKS["stsb"], [0.5, 4.0]) is None
    True
    """
    if spec.is_regression:
        return None
    references = np.asarray(references)
    majority = int(np.argmax(np.bincount(references, minlength=spec.num_labels)))
    return scores(spec, np.full(len(references), majority), references)


def chance_level(spec: TaskSpec, name: str) -> float | None:
    """What guessing scores on a metric, in expectation: accuracy 1/k for k balanced random guesses,
    0 for a correlation; None for F1, whose chance level depends on the class balance.

    >>> from glue_repro.tasks import TASKS
    >>> chance_level(TASKS["mnli"], "accuracy"), chance_level(TASKS["cola"], "matthews_correlation")
    (0.3333333333333333, 0.0)
    >>> chance_level(TASKS["mrpc"], "f1") is None
    True
    """
    if name == "accuracy":
        return 1 / spec.num_labels
    return 0.0 if name in ("matthews_correlation", "pearson", "spearmanr") else None


def load_metric(spec: TaskSpec):
    """The task's GLUE metric as an `evaluate` module, loaded from this package (no network)."""
    import evaluate

    return evaluate.load(MODULE_PATH, spec.name)
