"""Tokenized rows to `tf.data` batches, by one of two input pipelines.

- "course": the course's own, `to_tf_dataset` with `DataCollatorWithPadding` (Python
  collation per batch, padding to the longest row in each batch);
- "bucketed": tokenize once, then pure `tf.data` with length bucketing (the lengths and
  order from `bucketing.py`): little padding, no Python per batch, few shapes to compile.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np
import tensorflow as tf

from glue_repro import bucketing
from glue_repro.tasks import TaskSpec

PREFETCH = 2  # batches made ahead of the model; the pipeline is cheap, so a fixed buffer suffices


def tokenize(splits: datasets.DatasetDict, tokenizer, spec: TaskSpec, max_length: int | None) -> datasets.DatasetDict:
    """Tokenize the task's text column(s), one sentence or a pair, truncating to `max_length`."""

    def encode(batch):
        texts = [batch[c] for c in spec.text_columns]
        return tokenizer(*texts, truncation=True, max_length=max_length)

    return splits.map(encode, batched=True, desc="tokenize")


def count_truncated(splits: datasets.DatasetDict, tokenized: datasets.DatasetDict, tokenizer, spec: TaskSpec,
                    max_length: int | None) -> dict[str, int]:
    """Rows per split that truncation cut: those at the length limit that are longer untruncated."""
    limit = max_length or tokenizer.model_max_length
    counts = {}
    for name, split in tokenized.items():
        at_limit = [i for i, ids in enumerate(split["input_ids"]) if len(ids) >= limit]
        rows = splits[name].select(at_limit)
        full = tokenizer(*[list(rows[c]) for c in spec.text_columns])["input_ids"] if at_limit else []
        counts[name] = sum(len(ids) > limit for ids in full)
    return counts


def model_columns(tokenizer) -> list[str]:
    """The tokenizer outputs the model takes (e.g. input_ids, token_type_ids, attention_mask)."""
    return list(tokenizer.model_input_names)


def course_dataset(split: datasets.Dataset, tokenizer, batch_size: int, shuffle: bool):
    """The course's pipeline: dynamic padding per batch by `DataCollatorWithPadding`.

    Shuffled, it repeats without end: `to_tf_dataset` draws each pass's order from a random op
    whose sequence starts again with every new iterator, so once TensorFlow's seed is set (in
    every seeded run) each epoch would see the first epoch's order again (measured). One
    iterator over repeated passes draws a new order each epoch; fit is told where an epoch
    ends (Inputs.fit_steps).
    """
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer=tokenizer, return_tensors="np")
    dataset = split.to_tf_dataset(
        columns=model_columns(tokenizer),
        label_cols="labels",  # the collator renames "label" to "labels"
        shuffle=shuffle,
        collate_fn=collator,
        batch_size=batch_size,
    )
    return dataset.repeat() if shuffle else dataset


@dataclass
class Inputs:
    """What the model is fed: train and validation pipelines."""

    train: tf.data.Dataset | None  # None when built to score a validation split only
    validation: tf.data.Dataset
    steps_per_epoch: int  # optimizer steps in one pass over train
    validation_order: np.ndarray | None  # output row i is example order[i]; None = dataset order

    def fit_steps(self) -> int | None:
        """Keras fit's steps_per_epoch: the pass's batches for a train set that repeats (the course's),
        None for one that ends by itself (or none at all)."""
        repeats = self.train is not None and self.train.cardinality() == tf.data.INFINITE_CARDINALITY
        return self.steps_per_epoch if repeats else None

    def in_dataset_order(self, rows: np.ndarray) -> np.ndarray:
        """Rows computed over `validation`, put back in the order of the validation split."""
        return rows if self.validation_order is None else bucketing.unsort(rows, self.validation_order)


def tf_datasets(config, tokenized: datasets.DatasetDict, tokenizer, validation_split: str,
                train: bool = True) -> Inputs:
    """Train and validation `tf.data` pipelines for the config's input pipeline (`train=False`:
    the validation split's alone, for scoring another split)."""
    batch_size = config.recipe.batch_size
    train_rows, validation_rows = tokenized["train"], tokenized[validation_split]
    if config.speed.input_pipeline == "course":
        return Inputs(
            train=shard_by_data(course_dataset(train_rows, tokenizer, batch_size, shuffle=True)) if train else None,
            validation=course_dataset(validation_rows, tokenizer, config.eval_batch_size, shuffle=False),
            steps_per_epoch=-(-len(train_rows) // batch_size),
            validation_order=None,
        )
    columns, pad_id = model_columns(tokenizer), tokenizer.pad_token_id
    validation = eval_dataset(validation_rows, columns, config.eval_batch_size, pad_id)
    if not train:
        return Inputs(None, validation.dataset, 0, validation.order)
    fed = train_dataset(train_rows, columns, batch_size, pad_id)
    return Inputs(shard_by_data(fed.dataset), validation.dataset, fed.steps, validation.order)


@dataclass
class Bucketed:
    dataset: tf.data.Dataset  # yields (features, labels)
    steps: int  # batches per pass
    order: np.ndarray | None  # row i of the output is example order[i] (evaluation only)


def _examples(split, columns: list[str]) -> tuple[tf.data.Dataset, np.ndarray]:
    """(features, label) per example, each feature a 1-D tensor of the example's own length.

    Labels keep their kind: int32 classes, or float32 scores for regression.
    """
    lengths = bucketing.lengths_of(split)
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


def _padding(columns: list[str], pad_id: int, split) -> tuple[dict, np.ndarray]:
    """Padding values for (features, label): the pad token for ids, 0 for masks, segments and labels."""
    return {c: pad_id if c == "input_ids" else 0 for c in columns}, np.zeros((), _label_dtype(split))


def _label_dtype(split) -> type:
    """float32 for regression scores, int32 for class indices."""
    return np.float32 if split.features["label"].dtype.startswith("float") else np.int32


def train_dataset(
    split, columns: list[str], batch_size: int, pad_id: int = 0
) -> Bucketed:
    """Shuffled batches of rows of similar length, padded to the fixed lengths."""
    examples, lengths = _examples(split, columns)
    boundaries = bucketing.padded_lengths(int(lengths.max()))
    steps = bucketing.train_steps(lengths, boundaries, batch_size)
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
) -> Bucketed:
    """Batches of rows sorted by length, each padded to its longest row."""
    order = bucketing.eval_order(bucketing.lengths_of(split))
    examples, lengths = _examples(split.select(order), columns)
    dataset = examples.padded_batch(batch_size, padding_values=_padding(columns, pad_id, split))
    return Bucketed(_feed(dataset), steps=-(-len(lengths) // batch_size), order=order)


def _feed(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The dataset prefetched into a fixed buffer, with tf.data's autotuning off.

    This pipeline has nothing to tune, and the autotuner's background thread stalled the end of
    passes until its next re-planning tick (see the README's measurements).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH).with_options(options)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Across workers, each builds the same batches and trains on its share of each global batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
