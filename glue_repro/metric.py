"""Scoring: logits to classes, and the GLUE MRPC metric (accuracy and F1).

The pure functions below are the metric's definition, small enough to read and doctest;
`load_metric` is the same metric as an `evaluate` module, which the pipeline uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODULE_PATH = str(Path(__file__).parent / "evaluate_modules" / "glue_mrpc")
# What a collapsed run scores on MRPC validation: every pair predicted "equivalent".
COLLAPSED_MRPC_VALIDATION = {"accuracy": 0.6838, "f1": 0.8122}


def predictions_from_logits(logits) -> np.ndarray:
    """Class predictions: the index of the largest logit (the first one on ties).

    >>> predictions_from_logits([[0.1, 2.0], [3.0, -1.0], [1.0, 1.0]]).tolist()
    [1, 0, 0]
    """
    return np.argmax(np.asarray(logits), axis=1)


def accuracy(predictions, references) -> float:
    """Fraction of predictions that equal their reference.

    >>> accuracy([1, 0, 1, 1], [1, 0, 0, 1])
    0.75
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    return float((predictions == references).mean())


def f1(predictions, references) -> float:
    """F1 of the positive class; 0.0 when there are no true positives.

    >>> f1([1, 0, 1, 1], [1, 0, 0, 1])
    0.8
    >>> f1([0, 0], [0, 0])
    0.0
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    tp = int(np.sum((predictions == 1) & (references == 1)))
    fp = int(np.sum((predictions == 1) & (references == 0)))
    fn = int(np.sum((predictions == 0) & (references == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def mrpc_metrics(predictions, references) -> dict[str, float]:
    """The GLUE MRPC metric, as plain floats.

    >>> mrpc_metrics([1, 1, 1], [1, 0, 1])
    {'accuracy': 0.6666666666666666, 'f1': 0.8}
    """
    return {"accuracy": accuracy(predictions, references), "f1": f1(predictions, references)}


def cross_entropy(logits, labels) -> float:
    """Mean sparse categorical cross-entropy of logits.

    >>> round(cross_entropy(np.array([[0.0, 0.0]]), np.array([1])), 4)
    0.6931
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), np.asarray(labels)].mean())


def validation_scores(logits, labels) -> dict[str, float]:
    """Loss, accuracy and F1 of logits against their labels.

    >>> validation_scores([[0.0, 0.0], [0.0, 1.0]], [1, 1])["accuracy"]
    0.5
    """
    predictions = predictions_from_logits(logits)
    return {"loss": cross_entropy(logits, labels), **mrpc_metrics(predictions, labels)}


def is_collapsed(predictions) -> bool:
    """True when every prediction is the same class: the model learned nothing.

    >>> is_collapsed([1, 1, 1]), is_collapsed([1, 0, 1])
    (True, False)
    """
    return len(np.unique(np.asarray(predictions))) <= 1


def load_metric():
    """The GLUE MRPC metric as an `evaluate` module, loaded from this package (no network)."""
    import evaluate

    return evaluate.load(MODULE_PATH)
