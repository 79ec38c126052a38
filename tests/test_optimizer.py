"""FusedAdam: Keras' XLA Adam update, bit for bit, as one program per run."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from glue_repro import model

# Batches of three shapes, each with its own count of distinct tokens: the embeddings' sparse
# gradients change shape from step to step.
LENGTHS = (8, 12, 8, 16, 12)


def _batches():
    rng = np.random.default_rng(0)
    for length in LENGTHS:
        ids = rng.integers(5, 5 + 3 * length, (4, length)).astype("int32")
        yield {"input_ids": ids, "attention_mask": np.ones_like(ids)}, rng.integers(0, 2, 4)


def _train(adam_class, jit_compile: bool, steps: int = len(LENGTHS)) -> list[np.ndarray]:
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    classifier = model.build_model("tiny")
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    adam = adam_class(1e-2)
    adam.jit_compile = jit_compile  # Keras' constructor turns XLA off wherever it sees no GPU
    classifier.compile(optimizer=adam, loss=loss)
    for x, y in list(_batches())[:steps]:
        classifier.train_on_batch(x, y)
    return [v.numpy() for v in classifier.trainable_variables]


def test_fused_adam_updates_every_weight_exactly_as_keras_xla_adam_does():
    import tf_keras

    from glue_repro.optimizer import FusedAdam

    keras, fused = _train(tf_keras.optimizers.Adam, True), _train(FusedAdam, True)
    untrained = _train(FusedAdam, True, steps=0)
    for a, b in zip(keras, fused, strict=True):
        np.testing.assert_array_equal(a, b)
    # every weight really moved, the word embeddings (sparse gradients) among them, but the
    # attention keys' biases: softmax ignores what they add, so their gradients are about 0
    moved = [np.abs(a - b).max() > 1e-4 for a, b in zip(fused, untrained, strict=True)]
    assert moved[0] and sum(moved) == len(moved) - 2
    # Without XLA, TensorFlow's kernels round differently; the key biases' near-zero gradients,
    # scaled up by Adam, differ most (about 1e-5 after these steps of 1e-2).
    without_xla = _train(FusedAdam, False)
    for a, b in zip(without_xla, fused, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_options_fused_adam_does_not_compute_are_left_to_keras(monkeypatch):
    import functools

    import tf_keras

    from glue_repro.optimizer import FusedAdam

    def fail(*args, **kwargs):
        raise AssertionError("FusedAdam's own update ran")

    monkeypatch.setattr(FusedAdam, "_update_all", fail)
    keras = _train(functools.partial(tf_keras.optimizers.Adam, amsgrad=True), True, steps=2)
    fused = _train(functools.partial(FusedAdam, amsgrad=True), True, steps=2)
    for a, b in zip(keras, fused, strict=True):
        np.testing.assert_array_equal(a, b)


def test_padded_sparse_rows_leave_a_scatter_add_unchanged():
    import tensorflow as tf

    from glue_repro.optimizer import pad_rows

    values = tf.constant(np.arange(1, 7, dtype=np.float32).reshape(3, 2))
    slices = tf.IndexedSlices(values, tf.constant([0, 3, 1]), tf.constant([5, 2]))
    padded = pad_rows(slices, 8)
    assert padded.values.shape == (8, 2) and padded.indices.shape == (8,)
    np.testing.assert_array_equal(padded.indices.numpy()[3:], 0)
    np.testing.assert_array_equal(padded.values.numpy()[3:], 0)
    table = tf.Variable(np.full((5, 2), 0.5, np.float32))
    before = tf.tensor_scatter_nd_add(table, slices.indices[:, None], slices.values)
    after = tf.tensor_scatter_nd_add(table, padded.indices[:, None], padded.values)
    np.testing.assert_array_equal(after.numpy(), before.numpy())


@given(st.integers(1, 1 << 20))
def test_padded_row_counts_are_few_powers_of_two_that_hold_every_row(n):
    from glue_repro.optimizer import MIN_ROWS, padded_rows

    rows = int(padded_rows(n))
    assert rows >= max(n, MIN_ROWS)
    assert rows & (rows - 1) == 0  # a power of two
    assert rows == MIN_ROWS or rows < 2 * n  # the smallest such


def test_sparse_gradients_of_every_batch_reach_the_xla_update_in_one_shape():
    """XLA compiles a program per input shape: the deduplicated rows must not set the shape."""
    import tensorflow as tf

    from glue_repro.optimizer import MIN_ROWS, FusedAdam

    adam = FusedAdam(1e-3)
    adam.jit_compile = True
    shapes = set()
    for indices in ([3, 3, 1], [0, 1, 2, 3, 4, 5, 6, 7], [9] * 700):
        grad = tf.IndexedSlices(tf.ones((len(indices), 4)), tf.constant(indices), tf.constant([10, 4]))
        (unique,) = adam._deduplicate_sparse_grad([grad])
        shapes.add((tuple(unique.values.shape), tuple(unique.indices.shape)))
        dense = tf.math.unsorted_segment_sum(unique.values, unique.indices, 10)
        np.testing.assert_array_equal(dense.numpy(), tf.convert_to_tensor(grad).numpy())  # same gradient
    assert shapes == {((MIN_ROWS, 4), (MIN_ROWS,))}
    adam.jit_compile = False  # without XLA nothing is padded
    (unique,) = adam._deduplicate_sparse_grad([grad])
    assert unique.indices.shape == (1,)
