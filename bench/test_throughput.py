"""Steady-state fit and predict throughput, per device, task, preset and input pipeline.

`bucketed` is the preset's own speed options (for minilm the suite's default: length-bucketed
tf.data without autotuning, [CLS]-only last layer, fused GELU in inference, predict batch 64,
XLA only for Adam's update); `bucketed-xla` XLA-compiles the
train and predict steps too, on a few fixed lengths; `course` runs as the course does
(`to_tf_dataset` + `DataCollatorWithPadding`, batch 8, plain compile). Fit rounds train on
the same cached sample of each pipeline's own batches (its padding included, its per-batch
Python excluded: whole runs measure that), so rounds differ only by noise. Warm-up rounds
absorb tf.function tracing and XLA compilation; every round ends with its results on the
host (fit returns its history, predict returns numpy arrays).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import visible_devices

from glue_repro import flops
from glue_repro.config import COURSE_SPEED, MATMUL_DTYPE, preset
from glue_repro.run import evaluate, prepare

PRESETS = os.environ.get("GLUE_REPRO_BENCH_PRESETS", "tiny,minilm").split(",")
TASK = os.environ.get("GLUE_REPRO_BENCH_TASK", "mrpc")
# e.g. "default,mirrored": mirrored over every GPU, or GLUE_REPRO_BENCH_CPU_REPLICAS logical CPUs (2)
STRATEGIES = os.environ.get("GLUE_REPRO_BENCH_STRATEGIES", "default").split(",")
CPU_REPLICAS = int(os.environ.get("GLUE_REPRO_BENCH_CPU_REPLICAS", "2"))
FIT_STEPS = int(os.environ.get("GLUE_REPRO_BENCH_FIT_STEPS", "16"))  # optimizer steps per timed round
ROUNDS = int(os.environ.get("GLUE_REPRO_BENCH_ROUNDS", "5"))
# On a GPU, e.g. GLUE_REPRO_BENCH_PRECISION=mixed_bfloat16; the peak is then measured in that dtype.
PRECISION = os.environ.get("GLUE_REPRO_BENCH_PRECISION", "float32")
# Each pipeline's speed options, from the preset's own (mpnet-base's keeps every position's last layer).
PIPELINES = {
    "bucketed": lambda own: own,
    "course": lambda own: COURSE_SPEED,
    "bucketed-xla": lambda own: dataclasses.replace(own, xla=True),
}


def _placements():
    """(device, strategy) pairs: each device on its own, and each other strategy once (it places its replicas)."""
    ids = {d: d.strip("/").replace(":", "").lower() for d in visible_devices()}  # /GPU:0 -> gpu0
    pairs = [pytest.param(d, "default", id=ids[d], marks=[pytest.mark.gpu] if "GPU" in d else []) for d in ids]
    return pairs + [pytest.param("/CPU:0", s, id=s) for s in STRATEGIES if s != "default"]


@dataclass
class Setup:
    config: object
    model: object
    inputs: object
    fit_batches: object  # FIT_STEPS batches of the train pipeline, cached
    fit_lengths: np.ndarray  # real-token lengths of the examples in fit_batches
    train_lengths: np.ndarray
    val_lengths: np.ndarray
    padding_fraction: dict  # "train" (over one epoch) and "validation": padded share of the batches
    prepared: object  # run.Prepared: what run.evaluate predicts and scores


_setups: dict = {}


def setup_for(device: str, preset_name: str, pipeline_name: str, glue_dir, strategy: str = "default") -> Setup:
    import tensorflow as tf

    key = (device, preset_name, pipeline_name, strategy)
    if key not in _setups:
        precision = PRECISION if "GPU" in device and pipeline_name != "course" else "float32"
        own = preset(preset_name)
        config = dataclasses.replace(own, speed=PIPELINES[pipeline_name](own.speed))
        config = config.replace(task=TASK, precision=precision, strategy=strategy,
                                cpu_replicas=CPU_REPLICAS if strategy == "mirrored" else 1)
        with tf.device(device):
            p = prepare(config, glue_dir)
        inputs = p.inputs
        padding = {split: _padding_fraction(getattr(inputs, split)) for split in ("train", "validation")}
        fit_batches = inputs.train.take(FIT_STEPS).cache()
        fit_lengths = np.concatenate([np.sum(x["attention_mask"], axis=1) for x, _ in fit_batches])  # fills cache
        validation = p.spec.validation_splits[0]
        lengths = {k: np.array([len(ids) for ids in p.tokenized[k]["input_ids"]]) for k in ("train", validation)}
        _setups[key] = Setup(config, p.classifier, inputs, fit_batches, fit_lengths, lengths["train"],
                             lengths[validation], padding, p)
    return _setups[key]


def _padding_fraction(dataset) -> float:
    real = padded = 0
    for x, _ in dataset:
        real += int(np.sum(x["attention_mask"]))
        padded += int(np.size(x["attention_mask"]))
    return 1 - real / padded


def _record(benchmark, s: Setup, device, split: str, examples: float, flop: float, tokens: float, peak: float):
    seconds = benchmark.stats.stats.median
    achieved = flop / seconds / 1e9
    benchmark.extra_info.update(
        device=device, task=s.config.recipe.task, preset=s.config.preset, config=s.config.to_dict(),
        strategy=s.config.speed.strategy, replicas=s.model.distribute_strategy.num_replicas_in_sync,
        input_pipeline=s.config.speed.input_pipeline, xla=s.config.speed.xla, xla_predict=s.config.speed.xla_predict,
        xla_optimizer=s.config.speed.xla_optimizer, precision=s.config.recipe.precision,
        examples=examples,
        examples_per_second=examples / seconds,
        tokens_per_second=tokens / seconds, padding_fraction=s.padding_fraction[split],
        gflop_per_example=flop / examples / 1e9, gflops_per_second=achieved, peak_gflops=peak, mfu=achieved / peak,
        # examples/s had the sample held the split's mean real length: comparable across pipelines
        examples_per_second_at_mean_length=tokens / seconds / s.train_lengths.mean(),
    )


@pytest.mark.parametrize("pipeline_name", ["bucketed", "course"])
@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("device, strategy", _placements())
def test_fit(benchmark, device, preset_name, pipeline_name, strategy, glue_dir, peak_gflops):
    import tensorflow as tf

    s = setup_for(device, preset_name, pipeline_name, glue_dir, strategy)

    def fit():
        with tf.device(device):
            return s.model.fit(s.fit_batches, epochs=1, verbose=0)

    steps = sum(1 for _ in s.fit_batches)
    before = int(s.model.optimizer.iterations.numpy())
    benchmark.group = f"fit {TASK} {preset_name} {strategy}"
    history = benchmark.pedantic(fit, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    # every timed round trained on every batch, and the loss stayed finite
    assert int(s.model.optimizer.iterations.numpy()) - before == (ROUNDS + 1) * steps
    assert np.isfinite(history.history["loss"][-1])
    _record(benchmark, s, device, "train", len(s.fit_lengths), flops.train_flops(s.model.config, s.fit_lengths,
                                                                               s.config.speed.cls_only_last_layer),
            s.fit_lengths.sum(), peak_gflops(device, MATMUL_DTYPE[s.config.recipe.precision]))


@pytest.mark.parametrize("pipeline_name", ["bucketed", "bucketed-xla", "course"])
@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("device, strategy", _placements())
def test_predict(benchmark, device, preset_name, pipeline_name, strategy, glue_dir, peak_gflops):
    import tensorflow as tf

    if strategy == "mirrored" and pipeline_name == "bucketed-xla" and not visible_devices()[1:]:
        pytest.skip("XLA steps cannot reach variables on other logical CPU devices (glue-repro refuses it)")
    s = setup_for(device, preset_name, pipeline_name, glue_dir, strategy)

    def predict():
        with tf.device(device):
            return evaluate(s.prepared, s.prepared.spec.validation_splits[0]).logits  # as a run predicts

    benchmark.group = f"predict {TASK} {preset_name} {strategy}"
    logits = benchmark.pedantic(predict, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert np.asarray(logits).shape == (len(s.val_lengths), s.model.config.num_labels)
    _record(benchmark, s, device, "validation", len(s.val_lengths), flops.forward_flops(s.model.config, s.val_lengths,
                                                                                 s.config.speed.cls_only_last_layer),
            s.val_lengths.sum(), peak_gflops(device, MATMUL_DTYPE[s.config.recipe.precision]))
