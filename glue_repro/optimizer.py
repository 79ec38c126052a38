"""Keras' Adam, with its XLA-compiled update made cheap to compile and to call.

Keras compiles Adam's update with XLA one variable at a time: a BERT has about a hundred
variables, so a step makes a hundred XLA calls, and the first step compiles a hundred
programs. The embeddings' gradients are sparse (`tf.IndexedSlices`) with one row per distinct
token of the batch, a count that changes from batch to batch, and XLA compiles a program per
shape it meets: new programs all through the first epochs.

`FusedAdam` computes the same update, in the same order, as one XLA call over every
variable, with the step's size computed once rather than once per variable, and pads each
sparse gradient to a power-of-two row count, at least MIN_ROWS (rows of zeros at index 0:
adding zero changes nothing). A run compiles one program, or one per power of two its
batches' token counts reach beyond MIN_ROWS.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class FusedAdam(tf_keras.optimizers.Adam):
    """`tf_keras.optimizers.Adam` whose XLA update is one program for every weight and batch.

    Without XLA (`jit_compile=False`), under a tf.distribute strategy, or with amsgrad, the
    adaptive epsilon or EMA, it is Keras' Adam.
    """

    def _deduplicate_sparse_grad(self, grads):
        unique = super()._deduplicate_sparse_grad(grads)
        if not self.jit_compile:
            return unique
        return [pad_rows(u, padded_rows(tf.shape(g.indices)[0])) if isinstance(g, tf.IndexedSlices) else u
                for u, g in zip(unique, grads, strict=True)]

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        plain = not (self.amsgrad or self.adaptive_epsilon or self.use_ema)
        if not self.jit_compile or tf.distribute.has_strategy() or not plain:
            return super()._distributed_apply_gradients_fn(distribution, grads_and_vars, **kwargs)
        grads, variables = zip(*grads_and_vars, strict=True)
        self._update_all(list(grads), list(variables))
        return self.iterations.assign_add(1)

    @tf.function(jit_compile=True, autograph=False)
    def _update_all(self, grads, variables):
        alphas = {}  # Keras computes alpha once per variable: the same value, a larger program
        for grad, variable in zip(grads, variables, strict=True):
            if variable.dtype not in alphas:
                alphas[variable.dtype] = self._alpha(variable.dtype)
            self._update(grad, variable, alphas[variable.dtype])

    def _alpha(self, dtype):
        """The step size `alpha` of this step, as Keras' `Adam.update_step` computes it."""
        lr = tf.cast(self.learning_rate, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), local_step)
        return lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def _update(self, gradient, variable, alpha):
        """Keras' `Adam.update_step` without amsgrad or the adaptive epsilon, in its order of operations."""
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        if isinstance(gradient, tf.IndexedSlices):
            m.assign_add(-m * (1 - self.beta_1))
            m.scatter_add(tf.IndexedSlices(gradient.values * (1 - self.beta_1), gradient.indices))
            v.assign_add(-v * (1 - self.beta_2))
            v.scatter_add(tf.IndexedSlices(tf.square(gradient.values) * (1 - self.beta_2), gradient.indices))
        else:
            m.assign_add((gradient - m) * (1 - self.beta_1))
            v.assign_add((tf.square(gradient) - v) * (1 - self.beta_2))
        variable.assign_sub((m * alpha) / (tf.sqrt(v) + self.epsilon))


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
