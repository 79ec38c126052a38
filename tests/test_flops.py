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


def test_utilization_counts_each_epochs_training_and_validation_over_the_time_taken():
    from transformers import BertConfig

    config = BertConfig(hidden_size=4, num_hidden_layers=1, intermediate_size=8)
    train, validation = {"input_ids": [[1, 2], [1, 2, 3]]}, {"input_ids": [[1, 2]]}
    one = flops.utilization(config, train, validation, False, epochs_run=1, fit_seconds=2.0, predict_seconds=0.5,
                            peak=10.0)
    epoch = flops.train_flops(config, [2, 3]) + flops.forward_flops(config, [2])
    assert one["fit_gflops_per_second"] == pytest.approx(epoch / 2.0 / 1e9)
    assert one["predict_gflops_per_second"] == pytest.approx(flops.forward_flops(config, [2]) / 0.5 / 1e9)
    assert one["fit_mfu"] == pytest.approx(one["fit_gflops_per_second"] / 10.0) and one["peak_gflops"] == 10.0
    assert one["predict_mfu"] == pytest.approx(one["predict_gflops_per_second"] / 10.0)
    three = flops.utilization(config, train, validation, False, 3, 6.0, 0.5, 10.0)  # three epochs in three times
    assert three["fit_gflops_per_second"] == pytest.approx(one["fit_gflops_per_second"])
    cls = flops.utilization(config, train, validation, True, 1, 2.0, 0.5, 10.0)
    assert cls["predict_gflops_per_second"] == pytest.approx(flops.forward_flops(config, [2], True) / 0.5 / 1e9)


def test_the_matmul_peak_is_two_n_cubed_over_the_best_of_its_timed_repeats(monkeypatch):
    import tensorflow as tf

    made, placed = [], []
    uniform, device = tf.random.uniform, tf.device
    def recorded(shape, dtype="float32"):
        made.append((shape, dtype))
        return uniform(shape, dtype=dtype)

    monkeypatch.setattr(tf.random, "uniform", recorded)
    monkeypatch.setattr(tf, "device", lambda name: placed.append(name) or device(name))
    ticks = iter([0.0, 0.5, 10.0, 10.25, 20.0, 20.4])  # repeats of 0.5, 0.25 and 0.4 s
    monkeypatch.setattr(flops.time, "perf_counter", lambda: next(ticks))
    assert flops.matmul_peak_gflops(n=64, repeats=3) == 2 * 64**3 / 0.25 / 1e9
    assert made == [((64, 64), "float32")] * 2 and placed == ["/CPU:0"]  # two square float32 matrices, by default
    made.clear()
    ticks = iter([0.0, 0.5])
    peak = flops.matmul_peak_gflops("/CPU:0", n=32, dtype="bfloat16", repeats=1, batched=True)
    assert peak == pytest.approx(2 * 32**3 / 0.5 / 1e9)
    assert made == [((1, 32, 32), "bfloat16")] * 2  # a batch of one: BatchMatMulV2, the bfloat16 mode's path


def test_a_run_is_judged_against_the_best_peak_this_process_measured_for_its_path(monkeypatch):
    from glue_repro.config import TINY_PRESET

    measured = iter([100.0, 80.0, 120.0, 50.0])
    asked = []

    def peak(device, dtype, repeats, batched):
        asked.append((device, dtype, batched))
        return next(measured)

    monkeypatch.setattr(flops, "_PEAKS", {})
    monkeypatch.setattr(flops, "matmul_peak_gflops", peak)
    assert [flops.matmul_peak(TINY_PRESET) for _ in range(3)] == [100.0, 100.0, 120.0]  # a busy moment: not lower
    assert flops.matmul_peak(TINY_PRESET, again=False) == 120.0 and len(asked) == 3  # kept, not measured again
    bf16 = TINY_PRESET.replace(matmul_precision="bfloat16")
    assert flops.matmul_peak(bf16, again=False) == 50.0  # its own path, measured once
    assert asked == [("/CPU:0", "float32", False)] * 3 + [("/CPU:0", "float32", True)]


def test_the_peak_is_measured_on_the_gpu_when_tensorflow_sees_one_in_three_repeats_from_nothing(monkeypatch):
    import tensorflow as tf

    from glue_repro.config import TINY_PRESET

    asked = []
    monkeypatch.setattr(flops, "_PEAKS", {})
    monkeypatch.setattr(flops, "matmul_peak_gflops", lambda device, dtype, repeats, batched: asked.append(
        (device, repeats)) or 0.5)
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind: ["gpu 0"] if kind == "GPU" else [])
    assert flops.matmul_peak(TINY_PRESET) == 0.5  # a slow device's peak is its own, not a floor of 1
    assert asked == [("/GPU:0", 3)]


def test_rates_are_flops_over_seconds_in_units_of_exactly_1e9():
    from transformers import BertConfig

    config = BertConfig(hidden_size=4, num_hidden_layers=1, intermediate_size=8)
    rows = {"input_ids": [[1, 2, 3]]}
    got = flops.utilization(config, rows, rows, True, epochs_run=2, fit_seconds=3.0, predict_seconds=7.0, peak=1.0)
    forward = flops.forward_flops(config, [3], True)
    assert got["fit_gflops_per_second"] == 2 * (3 * forward + forward) / 3.0 / 1e9
    assert got["predict_gflops_per_second"] == forward / 7.0 / 1e9
    assert got["fit_gflops_per_second"] != 2 * (3 * flops.forward_flops(config, [3]) + forward) / 3.0 / 1e9


def test_forward_flops_add_up_over_sequences():
    from transformers import BertConfig

    config = BertConfig(hidden_size=4, num_hidden_layers=3, intermediate_size=8)
    for cls_only in (False, True):
        each = [flops.forward_flops(config, [n], cls_only) for n in (2, 5, 9)]
        assert flops.forward_flops(config, [2, 5, 9], cls_only) == sum(each) > max(each)
