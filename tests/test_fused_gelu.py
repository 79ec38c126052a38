"""The fused feed-forward block: predictions within rounding, training unchanged (biases nonzero)."""

import numpy as np
import pytest

from glue_repro import model
from tests.weights import randomize_biases


def _tiny_mpnet():
    from transformers import MPNetConfig, TFMPNetForSequenceClassification

    config = MPNetConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=40, initializer_range=0.2,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    classifier = TFMPNetForSequenceClassification(config)
    classifier(classifier.dummy_inputs)
    return classifier


@pytest.mark.parametrize("build", [lambda: model.build_model("tiny"), _tiny_mpnet], ids=["bert", "mpnet"])
def test_fused_gelu_changes_predictions_by_rounding_only_and_training_not_at_all(build):
    import tf_keras

    from glue_repro.fused_gelu import fuse_feed_forward
    from glue_repro.optimizer import FusedAdam

    rng = np.random.default_rng(0)
    batches = [{"input_ids": rng.integers(5, 60, (4, 9)).astype("int32")} for _ in range(3)]  # one shape: one trace
    labels = rng.integers(0, 2, 4)
    runs = {}
    for fused in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = build()
        assert randomize_biases(classifier) > 4 * classifier.config.num_hidden_layers
        if fused:
            assert fuse_feed_forward(classifier) == classifier.config.num_hidden_layers
        before = classifier.predict(batches[0], verbose=0)["logits"]
        classifier.compile(optimizer=FusedAdam(1e-2), loss=tf_keras.losses.SparseCategoricalCrossentropy(True))
        for x in batches:
            classifier.train_on_batch(x, labels)
        runs[fused] = before, [v.numpy() for v in classifier.trainable_variables]
    np.testing.assert_allclose(runs[True][0], runs[False][0], atol=1e-5)
    assert np.abs(runs[True][0]).max() > 0.1  # logits far above the tolerance
    for a, b in zip(runs[True][1], runs[False][1], strict=True):  # training took the unfused path
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("training", [False, True])
def test_the_fused_block_hands_grappler_its_chain_in_inference_only(training):
    """In inference each block's bias add reads its matmul directly (what oneDNN fuses with GELU);
    in training the block traces exactly the ops it had before."""
    import tensorflow as tf

    from glue_repro.fused_gelu import fuse_feed_forward

    def ops(block):
        traced = tf.function(lambda h: block(h, training=training))
        graph = traced.get_concrete_function(tf.TensorSpec([2, 3, block.dense.kernel.shape[0]])).graph
        return [(op.type, [i.op.type for i in op.inputs]) for op in graph.get_operations()]

    classifier = model.build_model("tiny")
    block = classifier.bert.encoder.layer[0].intermediate
    before = ops(block)
    assert fuse_feed_forward(classifier) == classifier.config.num_hidden_layers
    after = ops(block)
    bias_inputs = [inputs[0] for kind, inputs in after if kind == "BiasAdd"]
    if training:
        assert after == before
    else:
        assert bias_inputs == ["MatMul"] and ("BiasAdd", ["MatMul", "ReadVariableOp"]) not in before
