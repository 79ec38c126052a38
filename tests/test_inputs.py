"""The input pipelines: batches, padding, row order, labels (tiny models, no weights)."""

import numpy as np
import pytest

from glue_repro import bucketing, inputs
from glue_repro.tasks import TASKS

MRPC = TASKS["mrpc"]


def test_predict_keeps_the_last_partial_batch(tiny, small_pairs):
    tokenizer, classifier = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    dataset = inputs.course_dataset(tokenized["validation"], tokenizer, batch_size=8, shuffle=False)
    from glue_repro.train import predict_logits

    logits = predict_logits(classifier, dataset, verbose=0)
    assert logits.shape == (13, 2)
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("batch_size", [8, 64])
def test_bucketed_predictions_match_the_course_pipeline_in_order(tiny, small_pairs, batch_size):
    from glue_repro.train import predict_logits

    tokenizer, classifier = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    course = inputs.course_dataset(tokenized["validation"], tokenizer, batch_size=8, shuffle=False)
    fast = inputs.eval_dataset(tokenized["validation"], inputs.model_columns(tokenizer), batch_size)
    want = predict_logits(classifier, course, verbose=0)
    got = bucketing.unsort(predict_logits(classifier, fast.dataset, verbose=0), fast.order)
    assert got.shape == (13, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)  # padding is masked: same logits, same order
    for x, _ in fast.dataset:  # each batch padded to its own longest pair only
        assert x["input_ids"].shape[1] == int(np.max(np.sum(x["attention_mask"].numpy(), axis=1)))


def test_bucketed_train_batches_cover_every_example_once(tiny, small_pairs):

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    train = inputs.train_dataset(tokenized["train"], inputs.model_columns(tokenizer), batch_size=4)
    seen, steps = [], 0
    for x, _ in train.dataset:
        steps += 1
        assert x["input_ids"].shape[1] in bucketing.padded_lengths(32)
        seen.extend(tuple(int(t) for t in row if t) for row in x["input_ids"].numpy())
    assert steps == train.steps
    assert sorted(seen) == sorted(tuple(ids) for ids in tokenized["train"]["input_ids"])


@pytest.mark.parametrize("pipeline", ["bucketed", "course"])
def test_each_epoch_sees_the_training_rows_in_a_new_order(tiny, small_pairs, pipeline):
    """Keras iterates the same dataset once an epoch: it must shuffle anew each time, as the course's does."""
    import tensorflow as tf

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    from glue_repro.config import TINY_PRESET

    tf.random.set_seed(0)  # as every seeded run sets it
    fed = inputs.tf_datasets(TINY_PRESET.replace(input_pipeline=pipeline, batch_size=4), tokenized, tokenizer,
                             "validation")
    if fed.fit_steps():  # a train set that repeats: one iterator, an epoch every fit_steps batches (as Keras)
        batches = iter(fed.train)
        passes = [[next(batches) for _ in range(fed.fit_steps())] for _ in range(3)]
    else:  # one that ends: a new pass each epoch
        passes = [list(fed.train) for _ in range(3)]
    epochs = [[tuple(int(t) for t in row if t) for x, _ in batches for row in x["input_ids"].numpy()]
              for batches in passes]
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(epochs[2])  # every row, each epoch
    assert len({tuple(order) for order in epochs}) == 3


def test_bucketed_pipelines_run_without_tf_data_autotuning(tiny, small_pairs):
    # its background thread stalled the end of passes until its next re-planning tick

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    columns = inputs.model_columns(tokenizer)
    train = inputs.train_dataset(tokenized["train"], columns, batch_size=4).dataset
    validation = inputs.eval_dataset(tokenized["validation"], columns, batch_size=4).dataset
    for dataset in (train, validation):
        assert dataset.options().autotune.enabled is False


def _alone(classifier, tokenizer, row) -> np.ndarray:
    """One row's logits, predicted on its own without padding: the reference a reordering must match."""
    encoded = tokenizer(row["sentence1"], row["sentence2"], return_tensors="tf")
    return classifier(dict(encoded), training=False).logits.numpy()[0]


def test_predictions_join_their_rows_by_idx_through_reordering_buckets(tiny, varied_pairs):
    from glue_repro.config import TINY_PRESET
    from glue_repro.train import predict_logits

    tokenizer, classifier = tiny
    config = TINY_PRESET.replace(max_length=128, batch_size=4, predict_batch_size=4)
    tokenized = inputs.tokenize(varied_pairs, tokenizer, MRPC, max_length=128)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, "validation")
    widths = {int(x["input_ids"].shape[1]) for x, _ in fed.validation}
    assert len(widths) >= 3  # several batch shapes
    assert not np.array_equal(fed.validation_order, np.arange(23))  # the sort really reorders
    train_widths = {int(x["input_ids"].shape[1]) for x, _ in fed.train}
    assert len(train_widths & set(bucketing.padded_lengths(128))) >= 2  # several training buckets

    raw = predict_logits(classifier, fed.validation, verbose=0)
    got = fed.in_dataset_order(raw)
    want = {row["idx"]: _alone(classifier, tokenizer, row) for row in varied_pairs["validation"]}
    joined = np.stack([want[i] for i in varied_pairs["validation"]["idx"]])
    assert np.ptp(joined[:, 1] - joined[:, 0]) > 1e-2  # rows differ by far more than the tolerance
    np.testing.assert_allclose(got, joined, atol=1e-5)
    assert not np.allclose(raw, joined, atol=1e-5)  # left sorted: wrong rows
    assert not np.allclose(raw[fed.validation_order], joined, atol=1e-5)  # inverted the wrong way


# The schedule as Keras computes it, and as the compiled optimizer holds it (TensorFlow ops).


def test_label_kinds_come_from_the_tokenized_split():
    import datasets

    assert inputs._label_dtype(datasets.Dataset.from_dict({"input_ids": [[1]], "label": [0]})) is np.int32
    assert inputs._label_dtype(datasets.Dataset.from_dict({"input_ids": [[1]], "label": [2.5]})) is np.float32


def test_fit_is_told_the_steps_of_an_epoch_only_for_a_train_set_that_repeats():
    import tensorflow as tf

    batches = tf.data.Dataset.range(5).batch(2)
    assert inputs.Inputs(batches.repeat(), batches, 3, None).fit_steps() == 3
    assert inputs.Inputs(batches, batches, 3, None).fit_steps() is None
    assert inputs.Inputs(None, batches, 0, None).fit_steps() is None  # built to score a split only
