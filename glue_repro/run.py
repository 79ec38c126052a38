"""One run of the recipe, top to bottom: load, tokenize, build, fit, predict, score, write."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np

from glue_repro import data, distribute, flops, inputs, metric, model, results, runtime, schema, train
from glue_repro.config import RunConfig
from glue_repro.errors import GlueReproError
from glue_repro.tasks import TaskSpec, task


@dataclass
class Prepared:
    """Everything a run needs before `fit`: seeded, loaded, tokenized and built."""

    config: RunConfig
    spec: TaskSpec  # the task, resolved once from config.recipe.task
    splits: datasets.DatasetDict  # train and the validation split(s), cut to the recipe's limit
    source: data.DataSource
    tokenizer: object
    tokenized: datasets.DatasetDict
    inputs: inputs.Inputs  # train and the first validation split as tf.data pipelines
    classifier: object  # compiled, under the strategy's scope
    placement: distribute.Placement  # strategy, replicas, workers, this worker
    fed: dict = field(default_factory=dict)  # validation split -> its pipelines (the first: inputs; others when asked)


@dataclass
class Evaluation:
    """One validation split predicted and scored."""

    logits: np.ndarray  # (rows, num_labels), in the split's row order
    predictions: np.ndarray  # class per row, or score for regression
    scores: dict[str, float]  # loss and the task's metrics


def run(config: RunConfig, data_dir=None, runs_dir: Path = results.RUNS_DIR, verbose="auto",
        backup_dir: Path | None = None, command: list[str] | None = None) -> tuple[dict, Path | None]:
    """Fine-tune and evaluate once (`once`), then write the result to a new file in `runs_dir`.

    Returns:
        The result, and its file; None, None for a worker other than the chief, which writes nothing.
    """
    result = once(config, data_dir, verbose, backup_dir, command)
    if result is None:
        return None, None
    return result, results.write_new(result, Path(runs_dir), results.run_stem(config))


def once(config: RunConfig, data_dir=None, verbose="auto", backup_dir: Path | None = None,
         command: list[str] | None = None) -> schema.Result | None:
    """Fine-tune and evaluate once; the result, unwritten (a sweep's driver writes its cells').

    Args:
        backup_dir: keep a backup of training there (Keras' BackupAndRestore): a run killed
            midway and started again with the same folder resumes from its last epoch.
        command: the command line, stored in the result.

    Returns:
        The result; None for a worker other than the chief.
    """
    began = time.perf_counter()
    p = prepare(config, data_dir)
    spec, first = p.spec, p.spec.validation_splits[0]
    flops.matmul_peak(config, again=False)

    # fit, validated on the first validation split after each epoch
    start = time.perf_counter()
    history, epochs = fit(p, verbose, backup_dir)
    fit_seconds = time.perf_counter() - start

    # predict, then score every validation split (MNLI has two)
    start = time.perf_counter()
    main = evaluate(p, first, verbose)
    predict_seconds = time.perf_counter() - start
    by_split = {first: main} | {split: evaluate(p, split) for split in spec.validation_splits[1:]}

    # the result
    if not p.placement.is_chief:
        return None
    n_train, n_val = len(p.splits["train"]), len(p.splits[first])
    result = schema.Result(
        **schema.envelope("run"),
        task=spec.name,
        label=config.label,
        config=config.to_dict(),
        model=model.source(config.recipe.model, p.classifier, config.recipe.revision),
        seed=config.seed,
        deterministic=config.speed.deterministic,
        distribution=asdict(p.placement),
        resumed_from_epoch=None if backup_dir is None else epochs.first,
        data=vars(p.source),
        num_examples={split: len(rows) for split, rows in p.splits.items()},
        partial_data=bool(config.recipe.limit),
        truncated=inputs.count_truncated(p.splits, p.tokenized, p.tokenizer, spec, config.recipe.max_length),
        metrics=_metrics(main),
        metrics_by_split={split: _metrics(e) for split, e in by_split.items()},
        collapsed=metric.is_collapsed(spec, main.predictions),
        collapse_level=metric.collapse_level(spec, p.splits[first]["label"]),
        history=history,
        logits_shape=list(main.logits.shape),
        logits_sha256=hashlib.sha256(main.logits.tobytes()).hexdigest(),
        logits=main.logits.tolist(),
        predictions=main.predictions.tolist(),
        timing=schema.Timing(
            fit_seconds=fit_seconds,
            fit_examples_per_second=n_train * len(epochs.seconds) / fit_seconds,
            epoch_seconds=epochs.seconds,
            predict_seconds=predict_seconds,
            predict_examples_per_second=n_val / predict_seconds,
            **flops.utilization(p.classifier.config, p.tokenized["train"], p.tokenized[first],
                                config.speed.cls_only_last_layer, len(epochs.seconds), fit_seconds,
                                predict_seconds, flops.matmul_peak(config)),
        ),
        command=command,
        cell=None,
        wall_seconds=time.perf_counter() - began,
    )
    return result


def prepare(config: RunConfig, data_dir=None, batch_loss: bool = False) -> Prepared:
    """Seed, load, tokenize and build: what `run`, `lr-decay` and the benchmarks share.

    Args:
        batch_loss: report each training step's own loss (train.BatchLoss).
    """
    runtime.set_threads(config.speed.threads)
    strategy = distribute.make_strategy(config.speed.strategy, config.speed.cpu_replicas)  # first TF work
    runtime.setup(config)
    recipe, spec = config.recipe, task(config.recipe.task)
    splits, source = data.load(spec, data_dir)
    splits = data.cut(splits, spec, recipe.limit, recipe.train_rows)
    tokenizer = model.load_tokenizer(recipe.model, recipe.revision)
    tokenized = inputs.tokenize(splits, tokenizer, spec, recipe.max_length)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, spec.validation_splits[0])
    with strategy.scope():
        classifier = train.build(config, spec, tokenizer, fed.steps_per_epoch, batch_loss)
    place = distribute.placement(config.speed.strategy, strategy, recipe.batch_size)
    return Prepared(config, spec, splits, source, tokenizer, tokenized, fed, classifier, place,
                    {spec.validation_splits[0]: fed})


def fit(p: Prepared, verbose, backup_dir: Path | None) -> tuple[dict, train.EpochTimer]:
    """`model.fit` over the recipe's epochs; a lost peer worker is one line, not a collective's traceback."""
    first = p.spec.validation_splits[0]
    score = (lambda: evaluate(p, first).scores) if p.config.speed.validate_with_predict else None
    try:
        return train.fit(p.classifier, p.inputs.train, p.inputs.validation, p.config.recipe.epochs, score=score,
                         verbose=verbose, backup_dir=backup_dir, steps_per_epoch=p.inputs.fit_steps())
    except Exception as err:
        if p.placement.workers > 1 and distribute.is_peer_failure(err):
            raise GlueReproError(distribute.lost_worker(err)) from err
        raise


def evaluate(p: Prepared, split: str, verbose=0) -> Evaluation:
    """Predict a validation split, put the rows back in the split's order and score them: the one
    path for every split, every strategy, each epoch's validation, lr-decay and the benchmarks."""
    if split not in p.fed:
        p.fed[split] = inputs.tf_datasets(p.config, p.tokenized, p.tokenizer, split, train=False)
    fed = p.fed[split]
    logits = fed.in_dataset_order(train.predict_logits(p.classifier, fed.validation, verbose=verbose))
    scores = metric.validation_scores(p.spec, logits, p.splits[split]["label"])
    return Evaluation(logits, metric.predictions_from_outputs(p.spec, logits), scores)


def _metrics(evaluation: Evaluation) -> dict[str, float]:
    """The task's metrics alone, as a result stores them (the loss is in the history)."""
    return {k: v for k, v in evaluation.scores.items() if k != "loss"}
