"""FusedAdam: Keras' XLA Adam update, to the last bit or two, as one program per run."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glue_repro import model

# XLA compiles FusedAdam's update as one program and Keras' as one per variable; where it
# contracts a multiply and an add into one FMA can differ with the CPU's instruction set.
MAX_ULPS = 2
# Distinct tokens per step: the embeddings' sparse gradients change shape from step to step.
SPARSE_ROWS = (5, 9, 5)
STEPS = len(SPARSE_ROWS)


def _gradients(weights, step):
    """One step's gradients: sparse with repeated rows for the embedding tables (as a lookup gives), dense else."""
    import tensorflow as tf

    rng = np.random.default_rng(step)
    grads = []
    for name, value in weights:
        if "embeddings" in name and value.ndim == 2:
            rows = SPARSE_ROWS[step]
            grads.append(tf.IndexedSlices(tf.constant(rng.normal(size=(rows, value.shape[1])), tf.float32),
                                          tf.constant(rng.integers(0, value.shape[0], rows), tf.int32),
                                          tf.constant(value.shape)))
        else:
            grads.append(tf.constant(rng.normal(size=value.shape), tf.float32))
    return grads


def _apply(adam_class, weights, steps=STEPS, jit_compile=True, gradients=_gradients):
    """The weights after `steps` updates of the same gradients from the same start."""
    import tensorflow as tf

    variables = [tf.Variable(value) for _, value in weights]
    adam = adam_class(1e-2)
    adam.jit_compile = jit_compile  # Keras' constructor turns XLA off wherever it sees no GPU
    apply = tf.function(lambda grads: adam.apply_gradients(zip(grads, variables, strict=True)))  # as in a train step
    for step in range(steps):
        apply(gradients(weights, step))
    return [v.numpy() for v in variables]


def _ulps(a, b) -> float:
    """How many float32 units in the last place a and b are apart at most."""
    return float((np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))).max())


@pytest.fixture(scope="module")
def tiny_weights():
    """The tiny BERT's three embedding tables and its first layer's weights: every kind of variable it has
    (sparse tables, dense matrices, biases, layer norms), a third of them: Keras compiles one program each."""
    weights = [(v.name, v.numpy()) for v in model.build_model("tiny").trainable_variables]
    return [(name, value) for name, value in weights if "layer_._1" not in name and "classifier" not in name]


@pytest.mark.costly
def test_fused_adam_updates_every_weight_as_keras_xla_adam_does(tiny_weights):
    import tf_keras

    from glue_repro.optimizer import FusedAdam

    keras, fused = _apply(tf_keras.optimizers.Adam, tiny_weights), _apply(FusedAdam, tiny_weights)
    for (_, start), a, b in zip(tiny_weights, keras, fused, strict=True):
        assert _ulps(a, b) <= MAX_ULPS
        assert np.abs(b - start).max() > 1e-3  # every weight moved far more than the tolerance
    # Without XLA, FusedAdam is Keras' Adam, whose kernels round differently.
    for a, b in zip(_apply(FusedAdam, tiny_weights, jit_compile=False), fused, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fused_adam_follows_keras_adam_on_small_variables_and_where_epsilon_counts():
    """Seconds, for the fast tier: a sparse table, a matrix, a bias, and a weight whose gradients are so
    small (1e-7) that Adam's epsilon decides its step; FusedAdam (XLA) against Keras' plain kernels."""
    import tf_keras

    from glue_repro.optimizer import FusedAdam

    rng = np.random.default_rng(3)
    weights = [("word_embeddings", rng.normal(size=(40, 6)).astype(np.float32)),
               ("dense/kernel", rng.normal(size=(6, 5)).astype(np.float32)),
               ("dense/bias", rng.normal(size=(5,)).astype(np.float32)),
               ("tiny_gradients/bias", rng.normal(size=(7,)).astype(np.float32))]

    def gradients(weights, step):
        import tensorflow as tf

        tiny = tf.constant(1e-7 * np.random.default_rng(step).normal(size=7), tf.float32)
        return [*_gradients(weights[:3], step), tiny]

    keras = _apply(tf_keras.optimizers.Adam, weights, jit_compile=False, gradients=gradients)
    fused = _apply(FusedAdam, weights, gradients=gradients)
    for (name, start), a, b in zip(weights, keras, fused, strict=True):
        assert np.abs(a - start).max() > 1e-4, name  # every weight moved 100x the tolerance, the tiny-gradient one too
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=name)


def test_options_fused_adam_does_not_compute_are_left_to_keras(tiny_weights, monkeypatch):
    import functools

    import tf_keras

    from glue_repro.optimizer import FusedAdam

    def fail(*args, **kwargs):
        raise AssertionError("FusedAdam's own update ran")

    monkeypatch.setattr(FusedAdam, "_update_all", fail)
    few = tiny_weights[:3]  # the sparse embeddings and two dense variables: seconds, not a minute of XLA
    keras = _apply(functools.partial(tf_keras.optimizers.Adam, amsgrad=True), few, steps=2)
    fused = _apply(functools.partial(FusedAdam, amsgrad=True), few, steps=2)
    for a, b in zip(keras, fused, strict=True):
        np.testing.assert_array_equal(a, b)  # one process, the same Keras code: the same bits


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


def test_plain_adam_with_xla_takes_the_fused_update_and_keras_takes_the_rest(tiny_weights, monkeypatch):
    """FusedAdam's own update runs for plain Adam compiled with XLA outside a strategy; with EMA, or without
    XLA, Keras' own does."""
    import functools

    from glue_repro.optimizer import FusedAdam

    ran = []
    real = FusedAdam._update_all
    monkeypatch.setattr(FusedAdam, "_update_all", lambda self, *args: ran.append(1) or real(self, *args))
    few = tiny_weights[1:2]  # one dense table: one small program
    _apply(FusedAdam, few, steps=1)
    assert ran  # traced (a train step's tf.function traces twice as it creates the slots)
    traced = len(ran)
    _apply(functools.partial(FusedAdam, use_ema=True), few, steps=1)
    _apply(FusedAdam, few, steps=1, jit_compile=False)
    assert len(ran) == traced
