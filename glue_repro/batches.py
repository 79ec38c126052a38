"""Tokenized sentence pairs to `tf.data` batches.

Two pipelines feed the same model:
- "course": the course's own, `to_tf_dataset` with `DataCollatorWithPadding` (Python
  collation per batch, padding to the longest pair in each batch);
- "bucketed": tokenize once, then pure `tf.data` with length bucketing
  (see `buckets.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np
import tensorflow as tf


def tokenize(splits: datasets.DatasetDict, tokenizer, max_length: int | None) -> datasets.DatasetDict:
    """Tokenize both sentences of every pair, truncating to `max_length` (or the model's limit)."""

    def encode(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=max_length)

    return splits.map(encode, batched=True, desc="tokenize")


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
        from glue_repro.buckets import unsort

        return rows if self.validation_order is None else unsort(rows, self.validation_order)


def tf_datasets(config, tokenized: datasets.DatasetDict, tokenizer) -> Inputs:
    """Train and validation `tf.data` pipelines for the config's `input_pipeline`."""
    from glue_repro import buckets

    if config.input_pipeline == "course":
        return Inputs(
            train=course_dataset(tokenized["train"], tokenizer, config.batch_size, shuffle=True),
            validation=course_dataset(tokenized["validation"], tokenizer, config.eval_batch_size, shuffle=False),
            steps_per_epoch=-(-len(tokenized["train"]) // config.batch_size),
            validation_order=None,
        )
    columns, pad_id = model_columns(tokenizer), tokenizer.pad_token_id
    train = buckets.train_dataset(tokenized["train"], columns, config.batch_size, pad_id)
    validation = buckets.eval_dataset(tokenized["validation"], columns, config.eval_batch_size, pad_id)
    return Inputs(train.dataset, validation.dataset, train.steps, validation.order)
