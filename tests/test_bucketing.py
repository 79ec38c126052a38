"""The bucketed pipeline's order and step counts, as pure functions (no TensorFlow ops)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from glue_repro import bucketing

lengths_lists = st.lists(st.integers(1, 512), min_size=1, max_size=300)


@given(lengths_lists)
@settings(max_examples=200, deadline=None)
def test_evaluation_visits_rows_shortest_first_keeping_ties_in_order(lengths):
    order = bucketing.eval_order(lengths)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    visited = [(lengths[i], i) for i in order]
    assert visited == sorted(visited)  # by length, then by original position


@given(lengths_lists)
@settings(max_examples=200, deadline=None)
def test_unsort_puts_every_row_back_where_it_came_from(lengths):
    order = bucketing.eval_order(lengths)
    rows = np.array(lengths)[order]  # what a pass over the sorted rows returns, one value per row
    assert bucketing.unsort(rows, order).tolist() == list(lengths)
    two_columns = np.stack([rows, -rows], axis=1)
    assert bucketing.unsort(two_columns, order).tolist() == [[n, -n] for n in lengths]


@given(lengths_lists, st.integers(1, 64))
@settings(max_examples=200, deadline=None)
def test_train_steps_batch_each_bucket_apart(lengths, batch_size):
    boundaries = bucketing.padded_lengths(max(lengths))
    buckets = bucketing.bucket_of(lengths, boundaries)
    for length, bucket in zip(lengths, buckets, strict=True):  # the smallest padded length that holds the row
        assert length <= boundaries[bucket] and (bucket == 0 or length > boundaries[bucket - 1])
    want = sum(-(-int(np.sum(buckets == b)) // batch_size) for b in range(len(boundaries)))
    assert bucketing.train_steps(lengths, boundaries, batch_size) == want
    assert bucketing.train_steps(lengths, boundaries, batch_size) >= -(-len(lengths) // batch_size)


def test_padded_lengths_end_at_the_longest_row():
    assert bucketing.padded_lengths(32) == [32]
    assert bucketing.padded_lengths(33) == [32, 33]
    assert bucketing.padded_lengths(512) == list(bucketing.PADDED_LENGTHS)
    assert bucketing.padded_lengths(700) == [*bucketing.PADDED_LENGTHS, 700]


def test_the_mrpc_sized_example():
    lengths = [40, 12, 100, 12, 70]
    assert bucketing.eval_order(lengths).tolist() == [1, 3, 0, 4, 2]
    assert bucketing.bucket_of(lengths, [32, 48, 64, 80, 96, 100]).tolist() == [1, 0, 5, 0, 3]
    assert bucketing.train_steps(lengths, [32, 48, 64, 80, 96, 100], batch_size=2) == 4


def test_lengths_come_from_the_tokenized_split():
    import datasets

    split = datasets.Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6]], "label": [0, 1, 0]})
    assert bucketing.lengths_of(split).tolist() == [3, 1, 2] and bucketing.lengths_of(split).dtype == np.int32
