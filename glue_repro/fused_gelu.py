"""Let oneDNN fuse each feed-forward block's first matmul, its bias and its GELU into one kernel.

A Keras `Dense` on a (batch, length, hidden) tensor multiplies through `tensordot`, which
reshapes between the matmul and the bias, and the encoder applies GELU after that: TensorFlow's
graph rewriter (grappler's remapper) sees no MatMul -> BiasAdd -> GELU chain to hand to oneDNN.
Computing the block on (batch x length, hidden) rows gives it that chain. Fused, GELU is
oneDNN's own erf-based one: forward values can differ from TensorFlow's in the last bits
(about 1e-6). So only inference (predict, validation) takes the fused path; training runs the
block as before, and learns bit for bit what it learned without this.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from tf_keras.src.engine.base_layer_utils import call_context


def fuse_feed_forward(classifier) -> int:
    """Make every encoder layer's feed-forward input block compute on rows when not training.

    Returns how many blocks it changed.
    """
    blocks = [m for m in classifier.submodules
              if hasattr(m, "intermediate_act_fn") and isinstance(getattr(m, "dense", None), tf_keras.layers.Dense)]
    for block in blocks:
        block.call = _on_rows_in_inference(block.call, block.dense, block.intermediate_act_fn)
    return len(blocks)


def _on_rows_in_inference(original, dense, activation):
    def call(hidden_states):
        if call_context().training is not False:  # Keras passes the model's `training` down
            return original(hidden_states)
        rows = tf.reshape(hidden_states, [-1, hidden_states.shape[-1]])
        out = activation(tf.nn.bias_add(tf.matmul(rows, dense.kernel), dense.bias))
        return tf.reshape(out, tf.concat([tf.shape(hidden_states)[:-1], [dense.units]], axis=0))

    return call
