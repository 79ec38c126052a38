"""Tokenized rows to `tf.data` batches, by one of two input pipelines.

- "course": the course's own, `to_tf_dataset` with `DataCollatorWithPadding` (Python
  collation per batch, padding to the longest row in each batch);
- "bucketed": tokenize once, then pure `tf.data` with length bucketing (`bucketing.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np
import tensorflow as tf

from glue_repro import bucketing
from glue_repro.tasks import TaskSpec


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
    """The course's pipeline: dynamic padding per batch by `DataCollatorWithPadding`."""
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer=tokenizer, return_tensors="np")
    return split.to_tf_dataset(
        columns=model_columns(tokenizer),
        label_cols="labels",  # the collator renames "label" to "labels"
        shuffle=shuffle,
        collate_fn=collator,
        batch_size=batch_size,
    )


@dataclass
class Inputs:
    """What the model is fed: train and validation pipelines."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    steps_per_epoch: int  # optimizer steps in one pass over train
    validation_order: np.ndarray | None  # output row i is example order[i]; None = dataset order

    def in_dataset_order(self, rows: np.ndarray) -> np.ndarray:
        """Rows computed over `validation`, put back in the order of the validation split."""
        return rows if self.validation_order is None else bucketing.unsort(rows, self.validation_order)


def tf_datasets(config, tokenized: datasets.DatasetDict, tokenizer, validation_split: str) -> Inputs:
    """Train and validation `tf.data` pipelines for the config's input pipeline."""
    batch_size = config.recipe.batch_size
    train_rows, validation_rows = tokenized["train"], tokenized[validation_split]
    if config.speed.input_pipeline == "course":
        return Inputs(
            train=shard_by_data(course_dataset(train_rows, tokenizer, batch_size, shuffle=True)),
            validation=course_dataset(validation_rows, tokenizer, config.eval_batch_size, shuffle=False),
            steps_per_epoch=-(-len(train_rows) // batch_size),
            validation_order=None,
        )
    columns, pad_id = model_columns(tokenizer), tokenizer.pad_token_id
    train = bucketing.train_dataset(train_rows, columns, batch_size, pad_id)
    validation = bucketing.eval_dataset(validation_rows, columns, config.eval_batch_size, pad_id)
    return Inputs(shard_by_data(train.dataset), validation.dataset, train.steps, validation.order)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Across workers, each builds the same batches and trains on its share of each global batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
