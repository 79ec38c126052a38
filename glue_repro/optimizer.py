"""Keras' Adam, with its XLA-compiled update made cheap to compile and to call.

Keras compiles Adam's update with XLA one variable at a time: a BERT has about a hundred
variables, so a step makes a hundred XLA calls, and the first step compiles a hundred
programs. The embeddings' gradients are sparse (`tf.IndexedSlices`) with one row per distinct
token of the batch, a count that changes from batch to batch, and XLA compiles a program per
shape it meets: new programs all through the first epochs.

`FusedAdam` computes the same update, in the same order, as one XLA call over every
variable, and pads each sparse gradient to a power-of-two row count, at least MIN_ROWS (rows
of zeros at index 0: adding zero changes nothing). A run compiles one program, or one per
power of two its batches' token counts reach beyond MIN_ROWS.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class FusedAdam(tf_keras.optimizers.Adam):
    """`tf_keras.optimizers.Adam` whose XLA update is one program for every weight and batch.

    Without XLA (`jit_compile=False`) or under a tf.distribute strategy it is Keras' Adam.
    """

    def _deduplicate_sparse_grad(self, grads):
        unique = super()._deduplicate_sparse_grad(grads)
        if not self.jit_compile:
            return unique
        return [pad_rows(u, padded_rows(tf.shape(g.indices)[0])) if isinstance(g, tf.IndexedSlices) else u
                for u, g in zip(unique, grads, strict=True)]

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        if not self.jit_compile or tf.distribute.has_strategy() or self.use_ema:
            return super()._distributed_apply_gradients_fn(distribution, grads_and_vars, **kwargs)
        grads, variables = zip(*grads_and_vars, strict=True)
        self._update_all(list(grads), list(variables))
        return self.iterations.assign_add(1)

    @tf.function(jit_compile=True, autograph=False)
    def _update_all(self, grads, variables):
        for grad, variable in zip(grads, variables, strict=True):
            self._update_step(grad, variable)


MIN_ROWS = 1024


def padded_rows(n):
    """The row count a sparse gradient of `n` rows is padded to: a power of two, at least MIN_ROWS."""
    exponent = tf.math.ceil(tf.experimental.numpy.log2(tf.cast(n, tf.float64)))
    return tf.maximum(MIN_ROWS, tf.cast(tf.pow(tf.constant(2.0, tf.float64), exponent), tf.int32))


def pad_rows(slices: tf.IndexedSlices, rows) -> tf.IndexedSlices:
    """`slices` with rows of zeros at index 0 appended, up to `rows` rows in all.

    Scatter-adding them adds 0 to row 0, so a sparse update is unchanged by them.
    """
    extra = rows - tf.shape(slices.indices)[0]
    values_padding = [[0, extra]] + [[0, 0]] * (slices.values.shape.rank - 1)
    return tf.IndexedSlices(tf.pad(slices.values, values_padding), tf.pad(slices.indices, [[0, extra]]),
                            slices.dense_shape)
