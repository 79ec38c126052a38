"""Steady-state fit and predict throughput, per device, preset and input pipeline.

`suite` is this suite's pipeline (length-bucketed tf.data without autotuning, [CLS]-only
last layer, predict batch 64, XLA only for Adam's update); `suite-xla` XLA-compiles the
train and predict steps too, on a few fixed lengths; `verbatim` is the course's
(`to_tf_dataset` + `DataCollatorWithPadding`, batch 8, plain compile). Fit rounds train on
the same cached sample of each pipeline's own batches (its padding included, its per-batch
Python excluded: whole runs measure that), so rounds differ only by noise. Warm-up rounds
absorb tf.function tracing and XLA compilation; every round ends with its results on the
host (fit returns its history, predict returns numpy arrays).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import visible_devices

from glue_repro import flops, pipeline
from glue_repro.config import VERBATIM, preset

PRESETS = os.environ.get("GLUE_REPRO_BENCH_PRESETS", "tiny,minilm").split(",")
FIT_STEPS = int(os.environ.get("GLUE_REPRO_BENCH_FIT_STEPS", "16"))  # optimizer steps per timed round
ROUNDS = int(os.environ.get("GLUE_REPRO_BENCH_ROUNDS", "5"))
# On a GPU, e.g. GLUE_REPRO_BENCH_PRECISION=mixed_bfloat16; the peak is then measured in that dtype.
PRECISION = os.environ.get("GLUE_REPRO_BENCH_PRECISION", "float32")
PIPELINES = {"suite": {}, "verbatim": VERBATIM, "suite-xla": {"xla": True}}
PEAK_DTYPE = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def _device_params():
    ids = {d: d.strip("/").replace(":", "").lower() for d in visible_devices()}  # /GPU:0 -> gpu0
    return [pytest.param(d, id=ids[d], marks=[pytest.mark.gpu] if "GPU" in d else []) for d in ids]


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


_setups: dict = {}


def setup_for(device: str, preset_name: str, pipeline_name: str, glue_dir) -> Setup:
    import tensorflow as tf

    key = (device, preset_name, pipeline_name)
    if key not in _setups:
        precision = PRECISION if "GPU" in device and pipeline_name != "verbatim" else "float32"
        config = preset(preset_name).replace(precision=precision, **PIPELINES[pipeline_name])
        pipeline.setup(config)
        splits, _ = pipeline.load(config, glue_dir)
        with tf.device(device):
            tokenizer, inputs = pipeline.tokenize(config, splits)
            model = pipeline.build(config, tokenizer, inputs.steps_per_epoch)
        padding = {split: _padding_fraction(getattr(inputs, split)) for split in ("train", "validation")}
        fit_batches = inputs.train.take(FIT_STEPS).cache()
        fit_lengths = np.concatenate([np.sum(x["attention_mask"], axis=1) for x, _ in fit_batches])  # fills cache
        tokens = pipeline.batches.tokenize(splits, tokenizer, config.max_length)
        lengths = {k: np.array([len(ids) for ids in tokens[k]["input_ids"]]) for k in ("train", "validation")}
        _setups[key] = Setup(config, model, inputs, fit_batches, fit_lengths, lengths["train"], lengths["validation"],
                             padding)
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
        device=device, preset=s.config.preset, input_pipeline=s.config.input_pipeline, xla=s.config.xla,
        xla_predict=s.config.xla_predict, xla_optimizer=s.config.xla_optimizer, precision=s.config.precision,
        examples=examples,
        examples_per_second=examples / seconds,
        tokens_per_second=tokens / seconds, padding_fraction=s.padding_fraction[split],
        gflop_per_example=flop / examples / 1e9, gflops_per_second=achieved, peak_gflops=peak, mfu=achieved / peak,
        # examples/s had the sample held the split's mean real length: comparable across pipelines
        examples_per_second_at_mean_length=tokens / seconds / s.train_lengths.mean(),
    )


@pytest.mark.parametrize("pipeline_name", ["suite", "verbatim"])
@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("device", _device_params())
def test_fit(benchmark, device, preset_name, pipeline_name, glue_dir, peak_gflops):
    import tensorflow as tf

    s = setup_for(device, preset_name, pipeline_name, glue_dir)

    def fit():
        with tf.device(device):
            s.model.fit(s.fit_batches, epochs=1, verbose=0)

    benchmark.group = f"fit {preset_name}"
    benchmark.pedantic(fit, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    _record(benchmark, s, device, "train", len(s.fit_lengths), flops.train_flops(s.model.config, s.fit_lengths),
            s.fit_lengths.sum(), peak_gflops(device, PEAK_DTYPE[s.config.precision]))


@pytest.mark.parametrize("pipeline_name", ["suite", "suite-xla", "verbatim"])
@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("device", _device_params())
def test_predict(benchmark, device, preset_name, pipeline_name, glue_dir, peak_gflops):
    import tensorflow as tf

    s = setup_for(device, preset_name, pipeline_name, glue_dir)

    def predict():
        with tf.device(device):
            return s.model.predict(s.inputs.validation, verbose=0)["logits"]

    benchmark.group = f"predict {preset_name}"
    logits = benchmark.pedantic(predict, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert np.asarray(logits).shape == (len(s.val_lengths), 2)
    _record(benchmark, s, device, "validation", len(s.val_lengths), flops.forward_flops(s.model.config, s.val_lengths),
            s.val_lengths.sum(), peak_gflops(device, PEAK_DTYPE[s.config.precision]))
