"""The bucketed input pipeline: tokenize once, then pure `tf.data` with length bucketing.

There is little padding and no Python per batch. Training batches group rows of similar
length and pad them to one of a few fixed lengths, so the train step sees few shapes
(XLA and oneDNN compile per shape). Evaluation sorts rows by length and pads each batch to
its longest row: its batches are the same in every pass, so its shapes are few anyway.
The caller restores the original order with `Bucketed.order`.

This module holds the pure part (the padded lengths, each row's bucket, the step count and
the evaluation order); inputs.py builds the `tf.data` pipelines from it.
"""

from __future__ import annotations

import numpy as np

PADDED_LENGTHS = (32, 48, 64, 80, 96, 128, 192, 256, 384, 512)


def padded_lengths(max_length: int) -> list[int]:
    """The fixed lengths batches are padded to, up to and including `max_length`.

    >>> padded_lengths(100)
    [32, 48, 64, 80, 96, 100]
    """
    return [n for n in PADDED_LENGTHS if n < max_length] + [max_length]


def bucket_of(lengths, boundaries) -> np.ndarray:
    """Index of the smallest padded length that holds each sequence.

    >>> bucket_of([1, 32, 33, 100], [32, 48, 100]).tolist()
    [0, 0, 1, 2]
    """
    return np.searchsorted(np.asarray(boundaries), np.asarray(lengths), side="left")


def train_steps(lengths, boundaries, batch_size: int) -> int:
    """Batches in one training pass: each bucket's rows in batches, its last one partial.

    >>> train_steps([10, 20, 40, 40, 40], [32, 48], batch_size=2)  # buckets of 2 and 3 rows
    3
    """
    counts = np.bincount(bucket_of(lengths, boundaries), minlength=len(boundaries))
    return int(sum(-(-int(n) // batch_size) for n in counts))


def eval_order(lengths) -> np.ndarray:
    """The order evaluation visits rows in: shortest first, ties in their original order.

    >>> eval_order([5, 3, 5, 1]).tolist()
    [3, 1, 0, 2]
    """
    return np.argsort(np.asarray(lengths), kind="stable")


def lengths_of(split) -> np.ndarray:
    return np.array([len(ids) for ids in split["input_ids"]], dtype=np.int32)


def unsort(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Put rows computed in `order` back into the original order.

    >>> unsort(np.array([10, 20, 30]), np.array([2, 0, 1])).tolist()
    [20, 30, 10]
    """
    out = np.empty_like(rows)
    out[order] = rows
    return out
