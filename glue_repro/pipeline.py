"""One run of the recipe, top to bottom: load, tokenize, build, fit, predict, score, write."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import datasets

from glue_repro import batches, buckets, data, metric, model, results, train
from glue_repro.config import RecipeConfig
from glue_repro.errors import GlueReproError

RUNS_DIR = Path("results") / "runs"


def run(config: RecipeConfig, data_dir=None, runs_dir: Path = RUNS_DIR, verbose="auto") -> tuple[dict, Path]:
    """Fine-tune and evaluate once; return the result and the path of its new file."""
    setup(config)

    # load
    splits, source = data.load_mrpc(data_dir)
    splits = datasets.DatasetDict({name: splits[name] for name in ("train", "validation")})
    if config.limit:
        splits = datasets.DatasetDict({k: v.select(range(min(config.limit, len(v)))) for k, v in splits.items()})

    # tokenize
    tokenizer = model.load_tokenizer(config.model)
    tokenized = batches.tokenize(splits, tokenizer, config.max_length)
    train_set, val_set, steps_per_epoch, val_order = batches.tf_datasets(config, tokenized, tokenizer)

    # build
    classifier = model.build_model(config.model, vocab_size=len(tokenizer))
    train.compile_model(classifier, config, steps_per_epoch)

    # fit
    start = time.perf_counter()
    history, epoch_seconds = train.fit(classifier, train_set, val_set, config.epochs, verbose=verbose)
    fit_seconds = time.perf_counter() - start

    # predict
    start = time.perf_counter()
    logits = train.predict_logits(classifier, val_set, verbose=verbose)
    predict_seconds = time.perf_counter() - start
    if val_order is not None:
        logits = buckets.unsort(logits, val_order)

    # score
    predictions = metric.predictions_from_logits(logits)
    references = splits["validation"]["label"]
    scores = metric.load_metric().compute(predictions=predictions, references=references)

    # write
    n_train, n_val = len(splits["train"]), len(splits["validation"])
    result = results.Result(
        schema_version=results.SCHEMA_VERSION,
        created=results.now(),
        config=config.to_dict(),
        seed=config.seed,
        deterministic=config.deterministic,
        data=vars(source),
        num_examples={"train": n_train, "validation": n_val},
        metrics=results.Metrics(accuracy=scores["accuracy"], f1=scores["f1"]),
        collapsed=metric.is_collapsed(predictions),
        history=history,
        logits_shape=list(logits.shape),
        logits_sha256=hashlib.sha256(logits.tobytes()).hexdigest(),
        predictions=predictions.tolist(),
        timing=results.Timing(
            fit_seconds=fit_seconds,
            fit_examples_per_second=n_train * config.epochs / fit_seconds,
            epoch_seconds=epoch_seconds,
            predict_seconds=predict_seconds,
            predict_examples_per_second=n_val / predict_seconds,
        ),
        versions=results.versions(),
        device=results.device(),
        git=results.git_info(),
    )
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.preset}-seed{config.seed}"
    return result, results.write_new(result, Path(runs_dir), stem)


def setup(config: RecipeConfig) -> None:
    """Seed Python, numpy and TF; set determinism and the precision policy."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.precision != "float32" and not tf.config.list_physical_devices("GPU"):
        raise GlueReproError(
            f"config field precision={config.precision!r} needs a GPU, and TensorFlow sees none; "
            "use --precision float32 on the CPU"
        )
    tf_keras.mixed_precision.set_global_policy(config.precision)
