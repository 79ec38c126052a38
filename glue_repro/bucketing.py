"""The bucketed input pipeline: tokenize once, then pure `tf.data` with length bucketing.

There is little padding and no Python per batch. Training batches group rows of similar
length and pad them to one of a few fixed lengths, so the train step sees few shapes
(XLA and oneDNN compile per shape). Evaluation sorts rows by length and pads each batch to
its longest row: its batches are the same in every pass, so its shapes are few anyway.
The caller restores the original order with `Bucketed.order`.

The order and step counts are pure functions; the functions that build `tf.data` pipelines
are left out of mutation testing (`no mutate`): mutmut's forked test processes cannot run
TensorFlow, so tests/test_model.py checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

PADDED_LENGTHS = (32, 48, 64, 80, 96, 128, 192, 256, 384, 512)
PREFETCH = 2  # batches made ahead of the model; the pipeline is cheap, so a fixed buffer suffices


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


@dataclass
class Bucketed:
    dataset: tf.data.Dataset  # yields (features, labels)
    steps: int  # batches per pass
    order: np.ndarray | None  # row i of the output is example order[i] (evaluation only)


def _examples(split, columns: list[str]) -> tuple[tf.data.Dataset, np.ndarray]:  # pragma: no mutate block
    """(features, label) per example, each feature a 1-D tensor of the example's own length.

    Labels keep their kind: int32 classes, or float32 scores for regression.
    """
    lengths = lengths_of(split)
    dense = {}
    for c in columns:
        rows = np.zeros((len(lengths), int(lengths.max())), dtype=np.int32)
        for i, ids in enumerate(split[c]):
            rows[i, : len(ids)] = ids
        dense[c] = rows
    labels = np.asarray(split["label"], dtype=_label_dtype(split))

    def trim(x, n, y):
        return {c: v[:n] for c, v in x.items()}, y

    dataset = tf.data.Dataset.from_tensor_slices((dense, lengths, labels)).map(trim)
    return dataset, lengths


def _padding(columns: list[str], pad_id: int, split) -> tuple[dict, np.ndarray]:  # pragma: no mutate block
    """Padding values for (features, label): the pad token for ids, 0 for masks, segments and labels."""
    return {c: pad_id if c == "input_ids" else 0 for c in columns}, np.zeros((), _label_dtype(split))


def _label_dtype(split) -> type:
    """float32 for regression scores, int32 for class indices."""
    return np.float32 if split.features["label"].dtype.startswith("float") else np.int32


def lengths_of(split) -> np.ndarray:
    return np.array([len(ids) for ids in split["input_ids"]], dtype=np.int32)


def train_dataset(
    split, columns: list[str], batch_size: int, pad_id: int = 0
) -> Bucketed:  # pragma: no mutate block
    """Shuffled batches of rows of similar length, padded to the fixed lengths."""
    examples, lengths = _examples(split, columns)
    boundaries = padded_lengths(int(lengths.max()))
    steps = train_steps(lengths, boundaries, batch_size)
    dataset = (
        examples.cache()
        .shuffle(len(lengths), reshuffle_each_iteration=True)
        .bucket_by_sequence_length(
            element_length_func=lambda x, y: tf.shape(x["input_ids"])[0],
            # tf.data's boundaries are exclusive and pad to boundary - 1
            bucket_boundaries=[b + 1 for b in boundaries],
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=_padding(columns, pad_id, split),
            pad_to_bucket_boundary=True,
        )
        .apply(tf.data.experimental.assert_cardinality(steps))  # lets Keras show progress
    )
    return Bucketed(_feed(dataset), steps, order=None)


def eval_dataset(
    split, columns: list[str], batch_size: int, pad_id: int = 0
) -> Bucketed:  # pragma: no mutate block
    """Batches of rows sorted by length, each padded to its longest row."""
    order = eval_order(lengths_of(split))
    examples, lengths = _examples(split.select(order), columns)
    dataset = examples.padded_batch(batch_size, padding_values=_padding(columns, pad_id, split))
    return Bucketed(_feed(dataset), steps=-(-len(lengths) // batch_size), order=order)


def _feed(dataset: tf.data.Dataset) -> tf.data.Dataset:  # pragma: no mutate block
    """The dataset prefetched into a fixed buffer, with tf.data's autotuning off.

    This pipeline has nothing to tune, and the autotuner's background thread stalled the end of
    passes until its next re-planning tick (see the README's measurements).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH).with_options(options)


def unsort(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Put rows computed in `order` back into the original order.

    >>> unsort(np.array([10, 20, 30]), np.array([2, 0, 1])).tolist()
    [20, 30, 10]
    """
    out = np.empty_like(rows)
    out[order] = rows
    return out
