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


def _rows(lengths, label=0):
    import datasets

    ids = [list(range(1, n + 1)) for n in lengths]
    return datasets.Dataset.from_dict({"input_ids": ids, "token_type_ids": [[1] * n for n in lengths],
                                       "attention_mask": [[1] * n for n in lengths], "label": [label] * len(lengths)})


@pytest.mark.parametrize("bucketed", [True, False])
def test_padding_is_the_pad_token_for_ids_and_zero_for_masks_and_segments(bucketed):
    """A tokenizer whose pad id is not 0 (BERT's is): ids padded with it, masks and segments with 0."""
    columns = ["input_ids", "token_type_ids", "attention_mask"]
    split = _rows([3, 5, 9, 2, 7])
    made = (inputs.train_dataset(split, columns, batch_size=8, pad_id=99) if bucketed
            else inputs.eval_dataset(split, columns, batch_size=8, pad_id=99))
    (x, y), = list(made.dataset)  # five rows: one batch
    real = x["attention_mask"].numpy() == 1
    assert np.all(x["input_ids"].numpy()[~real] == 99) and np.all(x["token_type_ids"].numpy()[~real] == 0)
    assert np.all(x["token_type_ids"].numpy()[real] == 1) and np.all(x["input_ids"].numpy()[real] != 99)
    assert sorted(real.sum(axis=1)) == [2, 3, 5, 7, 9] and y.shape == (5,)
    width = x["input_ids"].shape[1]
    assert width == (min(b for b in bucketing.padded_lengths(9) if b >= 9) if bucketed else 9)


def test_a_validation_pass_has_its_batches_counted_and_its_rows_sorted_by_length():
    split = _rows([4, 1, 9, 3, 6, 2, 8])
    made = inputs.eval_dataset(split, ["input_ids", "attention_mask"], batch_size=3)
    assert made.steps == 3 == len(list(made.dataset))  # 7 rows in batches of 3
    widths = [x["input_ids"].shape[1] for x, _ in made.dataset]
    assert widths == sorted(widths) and widths[-1] == 9
    assert sorted(made.order.tolist()) == list(range(7))


def test_the_course_pipelines_epoch_counts_the_last_short_batch(tiny, small_pairs):
    from glue_repro.config import TINY_PRESET

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    fed = inputs.tf_datasets(TINY_PRESET.replace(input_pipeline="course"), tokenized, tokenizer, "validation")
    assert fed.steps_per_epoch == 2 == fed.fit_steps()  # 13 rows in batches of 8
    assert fed.validation_order is None
    scored = inputs.tf_datasets(TINY_PRESET, tokenized, tokenizer, "validation", train=False)
    assert scored.train is None and scored.steps_per_epoch == 0 and sorted(scored.validation_order) == list(range(13))


def test_rows_cut_by_truncation_are_counted_per_split(tiny):
    import datasets

    tokenizer, _ = tiny
    spec = TASKS["sst2"]
    text = {"train": ["a b", "a much longer sentence than eight tokens"], "validation": ["exactly", "ab"]}
    splits = datasets.DatasetDict({k: datasets.Dataset.from_dict({"sentence": v, "label": [0] * len(v)})
                                   for k, v in text.items()})
    tokenized = inputs.tokenize(splits, tokenizer, spec, max_length=9)  # "exactly": [CLS] + 7 + [SEP] = 9
    assert [len(ids) for ids in tokenized["validation"]["input_ids"]] == [9, 4]
    assert inputs.count_truncated(splits, tokenized, tokenizer, spec, 9) == {"train": 1, "validation": 0}


def test_each_worker_builds_the_same_batches_and_trains_on_its_share():
    import tensorflow as tf

    shared = inputs.shard_by_data(tf.data.Dataset.range(4))
    assert shared.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


def test_pipelines_pad_with_the_tokenizers_own_pad_id_and_feed_validation_alone_when_asked(monkeypatch):
    """tf_datasets on stand-ins for the pipelines it builds: which rows, batch sizes and pad id each gets."""
    from types import SimpleNamespace

    from glue_repro.config import TINY_PRESET

    asked = []
    monkeypatch.setattr(inputs, "model_columns", lambda tokenizer: ["input_ids"])
    monkeypatch.setattr(inputs, "eval_dataset", lambda rows, columns, batch_size, pad_id: asked.append(
        ("eval", rows, batch_size, pad_id)) or inputs.Bucketed("validation batches", 3, np.array([1, 0])))
    monkeypatch.setattr(inputs, "train_dataset", lambda rows, columns, batch_size, pad_id: asked.append(
        ("train", rows, batch_size, pad_id)) or inputs.Bucketed("train batches", 5, None))
    monkeypatch.setattr(inputs, "shard_by_data", lambda dataset: ("sharded", dataset))
    monkeypatch.setattr(inputs, "course_dataset", lambda rows, tokenizer, batch_size, shuffle: (
        "course", rows, batch_size, shuffle))
    config = TINY_PRESET.replace(batch_size=4, predict_batch_size=16)
    tokenized, tokenizer = {"train": list(range(9)), "validation": "V"}, SimpleNamespace(pad_token_id=7)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, "validation")
    assert asked == [("eval", "V", 16, 7), ("train", list(range(9)), 4, 7)]
    assert (fed.train, fed.validation, fed.steps_per_epoch) == (("sharded", "train batches"), "validation batches", 5)
    assert fed.validation_order.tolist() == [1, 0]
    asked.clear()
    alone = inputs.tf_datasets(config, tokenized, tokenizer, "validation", train=False)
    assert asked == [("eval", "V", 16, 7)] and (alone.train, alone.validation) == (None, "validation batches")
    course = config.replace(input_pipeline="course")
    fed = inputs.tf_datasets(course, tokenized, tokenizer, "validation")
    assert fed.train == ("sharded", ("course", list(range(9)), 4, True)) and fed.steps_per_epoch == 3
    assert fed.validation == ("course", "V", 16, False) and fed.validation_order is None
    assert inputs.tf_datasets(course, tokenized, tokenizer, "validation", train=False).train is None
