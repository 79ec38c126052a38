"""One run of the recipe, top to bottom: load, tokenize, build, fit, predict, score, write."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets

from glue_repro import (
    bf16_matmul,
    data,
    distribute,
    fused_gelu,
    inputs,
    last_layer,
    metric,
    model,
    results,
    runtime,
    train,
)
from glue_repro.config import MATMUL_DTYPE, Recipe, RunConfig
from glue_repro.errors import GlueReproError
from glue_repro.tasks import TaskSpec, task


@dataclass
class Prepared:
    """Everything a run needs before `fit`: seeded, loaded, tokenized and built."""

    config: RunConfig
    spec: TaskSpec
    splits: datasets.DatasetDict  # train and the validation split(s), cut to the recipe's limit
    source: data.DataSource
    tokenizer: object
    tokenized: datasets.DatasetDict
    inputs: inputs.Inputs  # train and the first validation split as tf.data pipelines
    classifier: object  # compiled, under the strategy's scope
    placement: distribute.Placement  # strategy, replicas, workers, this worker


def run(config: RunConfig, data_dir=None, runs_dir: Path = results.RUNS_DIR, verbose="auto",
        backup_dir: Path | None = None, command: list[str] | None = None) -> tuple[dict, Path | None]:
    """Fine-tune and evaluate once; return the result and the path of its new file.

    Args:
        backup_dir: keep a backup of training there (Keras' BackupAndRestore): a run killed
            midway and started again with the same folder resumes from its last epoch.

        command: the command line, stored in the result.

    Returns:
        The result, and its file; None for a worker other than the chief, which writes nothing.
    """
    began = time.perf_counter()
    p = prepare(config, data_dir)
    recipe, spec = config.recipe, p.spec
    matmul_peak(config, again=False)

    # fit
    start = time.perf_counter()
    try:
        history, epochs = train.fit(p.classifier, p.inputs.train, p.inputs.validation, spec, recipe.epochs,
                                    config.speed.validate_with_predict, verbose=verbose, backup_dir=backup_dir)
    except Exception as err:
        if p.placement.workers > 1 and _is_peer_failure(err):
            raise GlueReproError(distribute.lost_worker(err)) from err
        raise
    fit_seconds = time.perf_counter() - start

    # predict
    start = time.perf_counter()
    logits = p.inputs.in_dataset_order(train.predict_logits(p.classifier, p.inputs.validation, verbose=verbose))
    predict_seconds = time.perf_counter() - start

    # score: the first validation split, and any other (MNLI's mismatched) predicted the same way
    first = spec.validation_splits[0]
    predictions = metric.predictions_from_outputs(spec, logits)
    by_split = {first: metric.load_metric(spec).compute(predictions=predictions, references=p.splits[first]["label"])}
    for split in spec.validation_splits[1:]:
        other = inputs.tf_datasets(config, p.tokenized, p.tokenizer, split)
        other_logits = other.in_dataset_order(train.predict_logits(p.classifier, other.validation, verbose=0))
        by_split[split] = metric.scores(spec, metric.predictions_from_outputs(spec, other_logits),
                                        p.splits[split]["label"])

    # write
    if not p.placement.is_chief:
        return None, None
    n_train, n_val = len(p.splits["train"]), len(p.splits[first])
    result = results.Result(
        schema_version=results.SCHEMA_VERSION,
        created=results.now(),
        task=spec.name,
        label=config.label,
        config=config.to_dict(),
        model=model.source(recipe.model, p.classifier, recipe.revision),
        seed=config.seed,
        deterministic=config.speed.deterministic,
        distribution=asdict(p.placement),
        resumed_from_epoch=None if backup_dir is None else epochs.first,
        data=vars(p.source),
        num_examples={split: len(rows) for split, rows in p.splits.items()},
        partial_data=bool(recipe.limit),
        truncated=inputs.count_truncated(p.splits, p.tokenized, p.tokenizer, spec, recipe.max_length),
        metrics=by_split[first],
        metrics_by_split=by_split,
        collapsed=metric.is_collapsed(spec, predictions),
        history=history,
        logits_shape=list(logits.shape),
        logits_sha256=hashlib.sha256(logits.tobytes()).hexdigest(),
        logits=logits.tolist(),
        predictions=predictions.tolist(),
        timing=results.Timing(
            fit_seconds=fit_seconds,
            fit_examples_per_second=n_train * len(epochs.seconds) / fit_seconds,
            epoch_seconds=epochs.seconds,
            predict_seconds=predict_seconds,
            predict_examples_per_second=n_val / predict_seconds,
            **utilization(p, len(epochs.seconds), fit_seconds, predict_seconds, matmul_peak(config)),
        ),
        versions=results.versions(),
        device=results.device(),
        git=results.git_info(),
        command=command,
        wall_seconds=time.perf_counter() - began,
    )
    return result, results.write_new(result, Path(runs_dir), results.run_stem(config))


def prepare(config: RunConfig, data_dir=None, batch_loss: bool = False) -> Prepared:
    """Seed, load, tokenize and build: what `run`, `lr-decay` and the benchmarks share.

    Args:
        batch_loss: report each training step's own loss (train.BatchLoss).
    """
    strategy = distribute.make_strategy(config.speed.strategy, config.speed.cpu_replicas)  # first TF work
    setup(config)
    spec = task(config.recipe.task)
    splits, source = load(config, data_dir)
    tokenizer = model.load_tokenizer(config.recipe.model, config.recipe.revision)
    tokenized = inputs.tokenize(splits, tokenizer, spec, config.recipe.max_length)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, spec.validation_splits[0])
    with strategy.scope():
        classifier = build(config, spec, tokenizer, fed.steps_per_epoch, batch_loss)
    place = distribute.placement(config.speed.strategy, strategy, config.recipe.batch_size)
    return Prepared(config, spec, splits, source, tokenizer, tokenized, fed, classifier, place)


def utilization(p: Prepared, epochs_run: int, fit_seconds: float, predict_seconds: float, peak: float) -> dict:
    """Achieved GFLOP/s of fit and predict (flops.py's count of the work the model does, on real
    tokens) and their share of the matmul peak."""
    from glue_repro import bucketing, flops

    config, cls_only = p.classifier.config, p.config.speed.cls_only_last_layer
    predict_flop = flops.forward_flops(config, bucketing.lengths_of(p.tokenized[p.spec.validation_splits[0]]),
                                       cls_only)
    per_epoch = flops.train_flops(config, bucketing.lengths_of(p.tokenized["train"]), cls_only) + predict_flop
    fit = epochs_run * per_epoch / fit_seconds / 1e9  # training and each epoch's validation pass
    predict = predict_flop / predict_seconds / 1e9
    return {"peak_gflops": peak, "fit_gflops_per_second": fit, "predict_gflops_per_second": predict,
            "fit_mfu": fit / peak, "predict_mfu": predict / peak}


_PEAKS: dict[tuple, float] = {}  # the best matmul GFLOP/s this process has measured, per device, dtype and path


def matmul_peak(config: RunConfig, again: bool = True) -> float:
    """A large matmul's GFLOP/s on the run's device, in its dtype and matmul mode: the best this
    process has measured. A busy moment lowers one measurement, not the best of several; a run
    measures after predict (`again`), and before fit when the process has no measurement yet."""
    import tensorflow as tf

    from glue_repro import flops

    device = "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"
    dtype, batched = MATMUL_DTYPE[config.recipe.precision], config.recipe.matmul_precision == "bfloat16"
    key = (device, dtype, batched)  # the bfloat16 matmul mode has its own path and rounding
    if again or key not in _PEAKS:
        measured = flops.matmul_peak_gflops(device, dtype=dtype, repeats=3, batched=batched)
        _PEAKS[key] = max(_PEAKS.get(key, 0.0), measured)
    return _PEAKS[key]


def setup(config: RunConfig) -> None:
    """Seed Python, numpy and TF; set determinism and the precision policy."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(config.seed)
    if config.speed.deterministic:
        tf.config.experimental.enable_op_determinism()
    check_arithmetic(config.recipe)
    tf_keras.mixed_precision.set_global_policy(config.recipe.precision)
    runtime.set_matmul_precision(config.recipe.matmul_precision)


def check_arithmetic(recipe: Recipe) -> None:
    """Reduced precision where this machine has it: mixed policies on a GPU, or bfloat16 on a CPU
    that multiplies it in hardware; the bfloat16 matmul mode is oneDNN's, on such a CPU only."""
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    precision = recipe.precision
    if precision != "float32" and not gpu:
        if precision == "mixed_float16":
            raise GlueReproError(f"config field precision={precision!r} needs a GPU, and TensorFlow sees none; "
                                 "on the CPU use float32, or mixed_bfloat16 where the CPU has AMX or AVX512-BF16")
        if not runtime.cpu_has_native_bfloat16():
            raise GlueReproError(f"config field precision={precision!r}: this CPU has no AMX or AVX512-BF16 "
                                 "(oneDNN would emulate bfloat16, slower than float32) and TensorFlow sees no GPU; "
                                 "use --precision float32")
    if recipe.matmul_precision == "float32":
        return
    field = f"config field matmul_precision={recipe.matmul_precision!r}"
    if gpu:
        raise GlueReproError(f"{field}: a CPU (oneDNN) mode, and TensorFlow sees a GPU, where float32 matmuls "
                             "already use TF32 where the GPU has it; use --matmul-precision float32")
    if not runtime.onednn_enabled():
        raise GlueReproError(f"{field}: needs TensorFlow's oneDNN kernels; unset TF_ENABLE_ONEDNN_OPTS=0")
    if not runtime.cpu_has_native_bfloat16():
        raise GlueReproError(f"{field}: this CPU has no AMX or AVX512-BF16; use --matmul-precision float32")


def load(config: RunConfig, data_dir=None) -> tuple[datasets.DatasetDict, data.DataSource]:
    """The task's train and validation split(s), cut to the recipe's `limit` and `train_rows`."""
    spec, recipe = task(config.recipe.task), config.recipe
    splits, source = data.load(spec.name, data_dir)
    kept = {name: splits[name] for name in ("train", *spec.validation_splits)}
    if recipe.limit:
        kept = {name: split.select(range(min(recipe.limit, len(split)))) for name, split in kept.items()}
    if recipe.train_rows:
        kept["train"] = kept["train"].select(range(min(recipe.train_rows, len(kept["train"]))))
    return datasets.DatasetDict(kept), source


def build(config: RunConfig, spec: TaskSpec, tokenizer, steps_per_epoch: int, batch_loss: bool = False):
    """The classifier with the task's head, compiled with the recipe's optimizer, schedule and loss."""
    name = config.recipe.model
    classifier = model.build_model(name, num_labels=spec.num_labels, vocab_size=len(tokenizer),
                                   revision=config.recipe.revision)
    positions = getattr(classifier.config, "max_position_embeddings", None)
    if config.recipe.max_length and positions and config.recipe.max_length > positions:
        raise GlueReproError(f"config field max_length={config.recipe.max_length}: above the {positions} positions "
                             f"model {name!r} has embeddings for")
    if config.speed.cls_only_last_layer and not last_layer.cls_only_last_layer(classifier):
        raise GlueReproError(f"model {name!r}: cls_only_last_layer needs a BERT-style encoder; "
                             "pass --no-cls-only-last-layer")
    if config.speed.fused_gelu:
        fused_gelu.fuse_feed_forward(classifier)
    if config.recipe.matmul_precision == "bfloat16":
        bf16_matmul.route_dense_layers(classifier)
    if config.recipe.precision != "float32":
        model.head_in_float32(classifier)
    train.compile_model(classifier, config, steps_per_epoch, batch_loss)
    return classifier



def _is_peer_failure(err: Exception) -> bool:
    """A collective op that failed because another worker stopped answering."""
    import tensorflow as tf

    return isinstance(err, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
                            tf.errors.AbortedError, tf.errors.InternalError))
