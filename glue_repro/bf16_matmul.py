"""The bfloat16 matmul mode's other half: encoder Dense layers multiply through BatchMatMulV2.

Under `matmul_precision="bfloat16"` oneDNN may round float32 matmul inputs to bfloat16 and sum
in float32, which AMX runs faster (runtime.set_matmul_precision). Only its matmul primitive
honours that: TensorFlow's BatchMatMulV2 kernel uses it, while MatMul, which a Keras Dense
on a (batch, length, hidden) tensor runs through `tensordot`, calls oneDNN's sgemm, always
strict. So each encoder Dense multiplies its rows as a batch of one, and its gradients, also
batch matmuls of equal batch shapes, need no reduction. Tensors stay float32: layer norms,
GELU, dropout and the optimizer are untouched.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras


def route_dense_layers(classifier) -> int:
    """Make every Dense of the classifier multiply rank-3 inputs through BatchMatMulV2.

    Rank-2 inputs (the pooler, the head) keep Keras' own path. Returns how many layers changed.
    """
    layers = [m for m in classifier.submodules if isinstance(m, tf_keras.layers.Dense)]
    for layer in layers:
        layer.call = _batch_matmul_for_rank_3(layer.call, layer)
    return len(layers)


def _batch_matmul_for_rank_3(original, dense):
    def call(inputs):
        if inputs.shape.rank != 3:
            return original(inputs)
        rows = tf.reshape(inputs, [1, -1, inputs.shape[-1]])
        out = tf.linalg.matmul(rows, tf.expand_dims(dense.kernel, 0))
        out = tf.reshape(out, tf.concat([tf.shape(inputs)[:-1], [dense.units]], axis=0))
        if dense.use_bias:
            out = tf.nn.bias_add(out, dense.bias)
        return dense.activation(out)  # linear unless the layer was given one; Keras never leaves it None

    return call
