"""FLOP counts against an independent count: the matmuls TensorFlow's own graphs hold."""

import numpy as np
import pytest

from glue_repro import flops, results


def _matmul_flops(graph) -> int:
    """2 m n k for every matrix product in a traced graph (its shapes are static here)."""
    total = 0
    for op in graph.get_operations():
        if op.type in ("Einsum", "Conv2D"):
            raise AssertionError(f"{op.type}: a product this count does not read")
        if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
            transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            k = op.inputs[0].shape[-2 if transposed else -1]
            total += 2 * int(np.prod(op.outputs[0].shape)) * k
    return total


@pytest.mark.parametrize("cls_only_last_layer", [False, True])
def test_training_flops_agree_with_the_products_of_the_traced_forward_and_backward_passes(cls_only_last_layer):
    """The analytic count also counts biases, layer norms and the pooler at every token: at most 10 %
    above the products alone for this size, never below; 2 x forward would be a third below."""
    import tensorflow as tf

    from glue_repro import last_layer
    from tests.weights import tiny_bert

    classifier = tiny_bert(hidden_size=64, intermediate_size=256, max_position_embeddings=64)
    if cls_only_last_layer:
        assert last_layer.cls_only_last_layer(classifier)
    length = 32
    ids = tf.TensorSpec([1, length], tf.int32)

    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(classifier(x, training=False).logits)
        return tape.gradient(loss, classifier.trainable_variables)

    predict = tf.function(lambda x: classifier(x, training=False).logits)
    forward = _matmul_flops(predict.get_concrete_function(ids).graph)
    training = _matmul_flops(tf.function(train_step).get_concrete_function(ids).graph)
    assert training == 3 * forward  # each product's backward is two of its size
    for counted, traced in ((flops.forward_flops(classifier.config, [length], cls_only_last_layer), forward),
                            (flops.train_flops(classifier.config, [length], cls_only_last_layer), training)):
        assert 1.0 <= counted / traced <= 1.10


def test_no_committed_run_reports_more_than_the_peak():
    from pathlib import Path

    runs = sorted((Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json"))
    measured = [results.read(p)["timing"] for p in runs]
    measured = [t for t in measured if t.get("fit_mfu") is not None]
    assert len(measured) > 10
    for timing in measured:
        assert 0 < timing["fit_mfu"] <= 1 and 0 < timing["predict_mfu"] <= 1
