"""Dense layers routed through batch matmul, for the bfloat16 matmul mode."""

import numpy as np

from glue_repro import model
from tests.weights import randomize_biases


def test_dense_layers_routed_through_batch_matmul_compute_the_same_logits_and_gradients():
    from collections import Counter

    import tensorflow as tf
    import tf_keras

    from glue_repro import runtime
    from glue_repro.bf16_matmul import route_dense_layers

    assert not runtime.bfloat16_matmul_in_effect()  # this process multiplies in strict float32
    rng = np.random.default_rng(0)
    x = {"input_ids": tf.constant(rng.integers(5, 60, (4, 11)).astype("int32"))}
    labels = tf.constant(rng.integers(0, 2, 4))
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    outcomes, graphs = {}, {}
    for routed in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny")
        randomize_biases(classifier)
        if routed:
            dense = sum(isinstance(m, tf_keras.layers.Dense) for m in classifier.submodules)
            assert route_dense_layers(classifier) == dense == 6 * classifier.config.num_hidden_layers + 2

        @tf.function
        def step(classifier=classifier):
            with tf.GradientTape() as tape:
                logits = classifier(x, training=False).logits
                value = loss(labels, logits)
            return logits, tape.gradient(value, classifier.trainable_variables)

        outcomes[routed] = step()
        graphs[routed] = Counter(op.type for op in step.get_concrete_function().graph.get_operations())
    np.testing.assert_allclose(outcomes[True][0], outcomes[False][0], rtol=1e-5, atol=1e-6)
    assert np.abs(outcomes[True][0]).max() > 0.01
    for a, b in zip(outcomes[True][1], outcomes[False][1], strict=True):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-4, atol=1e-6)
    encoder_dense = 6 * 2  # per layer: query, key, value, attention output, intermediate, output
    # forward and both gradients of each encoder Dense moved from MatMul to BatchMatMulV2
    assert graphs[True]["BatchMatMulV2"] - graphs[False]["BatchMatMulV2"] == 3 * encoder_dense
    assert graphs[False]["MatMul"] - graphs[True]["MatMul"] == 3 * encoder_dense


def test_a_routed_dense_keeps_its_bias_and_activation_on_any_number_of_rows():
    import tf_keras

    from glue_repro.bf16_matmul import route_dense_layers

    dense = tf_keras.layers.Dense(5, activation="relu", bias_initializer="random_normal")
    x = np.random.default_rng(1).normal(size=(3, 7, 4)).astype("float32")  # 21 rows: odd
    expected = tf_keras.Sequential([dense])(x).numpy()
    assert route_dense_layers(tf_keras.Sequential([dense])) == 1
    np.testing.assert_allclose(dense(x).numpy(), expected, rtol=1e-6, atol=1e-7)
    assert (expected == 0).any() and (expected > 0).any()  # relu clipped some outputs, kept others
