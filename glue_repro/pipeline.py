"""One run of the recipe, top to bottom: load, tokenize, build, fit, predict, score, write."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import datasets

from glue_repro import batches, data, last_layer, metric, model, results, train
from glue_repro.config import RecipeConfig
from glue_repro.errors import GlueReproError

RUNS_DIR = Path("results") / "runs"


def run(config: RecipeConfig, data_dir=None, runs_dir: Path = RUNS_DIR, verbose="auto") -> tuple[dict, Path]:
    """Fine-tune and evaluate once; return the result and the path of its new file."""
    setup(config)
    splits, source = load(config, data_dir)
    tokenizer, inputs = tokenize(config, splits)
    classifier = build(config, tokenizer, inputs.steps_per_epoch)

    # fit
    start = time.perf_counter()
    history, epoch_seconds = train.fit(
        classifier, inputs.train, inputs.validation, config.epochs, config.validate_with_predict, verbose=verbose
    )
    fit_seconds = time.perf_counter() - start

    # predict
    start = time.perf_counter()
    logits = train.predict_logits(classifier, inputs.validation, verbose=verbose)
    predict_seconds = time.perf_counter() - start
    logits = inputs.in_dataset_order(logits)

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


def load(config: RecipeConfig, data_dir=None) -> tuple[datasets.DatasetDict, data.DataSource]:
    """MRPC train and validation, cut to `config.limit` rows each."""
    splits, source = data.load_mrpc(data_dir)
    kept = {name: splits[name] for name in ("train", "validation")}
    if config.limit:
        kept = {name: split.select(range(min(config.limit, len(split)))) for name, split in kept.items()}
    return datasets.DatasetDict(kept), source


def tokenize(config: RecipeConfig, splits: datasets.DatasetDict):
    """The checkpoint's tokenizer, and the tokenized splits as `tf.data` inputs."""
    tokenizer = model.load_tokenizer(config.model)
    tokenized = batches.tokenize(splits, tokenizer, config.max_length)
    return tokenizer, batches.tf_datasets(config, tokenized, tokenizer)


def build(config: RecipeConfig, tokenizer, steps_per_epoch: int):
    """The classifier, compiled with the recipe's optimizer, schedule and loss."""
    classifier = model.build_model(config.model, vocab_size=len(tokenizer))
    if config.cls_only_last_layer and not last_layer.cls_only_last_layer(classifier):
        raise GlueReproError(f"model {config.model!r}: cls_only_last_layer needs a BERT-style encoder; "
                             "pass --no-cls-only-last-layer")
    train.compile_model(classifier, config, steps_per_epoch)
    return classifier
