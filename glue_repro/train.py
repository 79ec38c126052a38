"""Compile, fit and predict: the course's Keras recipe, with its optimizer schedule."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras

from glue_repro import bf16_matmul, fused_gelu, last_layer
from glue_repro.config import RunConfig
from glue_repro.errors import GlueReproError
from glue_repro.model import build_model, head_in_float32
from glue_repro.optimizer import FusedAdam
from glue_repro.schedule import learning_rate
from glue_repro.tasks import TaskSpec


def loss_and_metrics(spec: TaskSpec) -> tuple:
    """The course's sparse cross-entropy on logits with accuracy; mean squared error for regression.

    Regression is trained as transformers' `run_glue` trains STS-B: one output, squared error.
    """
    if spec.is_regression:
        return tf_keras.losses.MeanSquaredError(), []
    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]


class BatchLoss(tf_keras.metrics.Metric):
    """The loss of the latest training batch alone.

    Keras' own `loss` in the logs is a running mean over the epoch, weighted by batch size,
    from which one step's loss cannot be recovered when batch sizes differ.
    """

    def __init__(self, loss_fn, name="batch_loss"):
        super().__init__(name=name)
        self.loss_fn = loss_fn
        self.value = self.add_weight(name="value", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(tf.cast(self.loss_fn(y_true, y_pred, sample_weight), self.dtype))

    def result(self):
        return tf.identity(self.value)

    def reset_state(self):
        self.value.assign(0.0)


def build(config: RunConfig, spec: TaskSpec, tokenizer, steps_per_epoch: int, batch_loss: bool = False):
    """The classifier with the task's head, compiled with the recipe's optimizer, schedule and loss."""
    name, recipe, speed = config.recipe.model, config.recipe, config.speed
    classifier = build_model(name, num_labels=spec.num_labels, vocab_size=len(tokenizer),
                                   revision=recipe.revision)
    positions = getattr(classifier.config, "max_position_embeddings", None)
    if recipe.max_length and positions and recipe.max_length > positions:
        raise GlueReproError(f"config field max_length={recipe.max_length}: above the {positions} positions "
                             f"model {name!r} has embeddings for")
    if speed.cls_only_last_layer and not last_layer.cls_only_last_layer(classifier):
        raise GlueReproError(f"config field cls_only_last_layer=True: model {name!r} has no BERT-style encoder "
                             "to cut; turn it off")
    if speed.fused_gelu:
        fused_gelu.fuse_feed_forward(classifier)
    if recipe.matmul_precision == "bfloat16":
        bf16_matmul.route_dense_layers(classifier)
    if recipe.precision != "float32":
        head_in_float32(classifier)
    compile_model(classifier, config, spec, steps_per_epoch, batch_loss)
    return classifier


def compile_model(model, config: RunConfig, spec: TaskSpec, steps_per_epoch: int, batch_loss: bool = False) -> None:
    """Adam on the schedule over all training steps, and the task's loss.

    Args:
        batch_loss: also report each step's own loss as `batch_loss` (see BatchLoss).
    """
    recipe, speed = config.recipe, config.speed
    total_steps = steps_per_epoch * recipe.epochs
    # Keras' own default compiles the update with XLA on a GPU; deterministic runs use no XLA at all.
    # A whole-step XLA program (speed.xla) compiles the update inside it: there Keras' Adam is used.
    adam = tf_keras.optimizers.Adam if speed.xla else FusedAdam
    optimizer = adam(learning_rate(recipe, total_steps), jit_compile=not speed.deterministic)
    if speed.xla_optimizer:
        # On the CPU Keras leaves Adam unfused: about ten passes over every weight-sized
        # tensor, the word embeddings included. Fused, it is the same update in one pass.
        optimizer.jit_compile = True
    loss, metrics = loss_and_metrics(spec)
    if batch_loss:
        metrics = [*metrics, BatchLoss(loss)]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=speed.xla)
    build_training_variables(model, spec)
    if speed.xla_predict and not speed.xla:
        # Keras' jit_compile would compile training too; wrapping the predict step compiles
        # the forward pass alone, as Keras wraps each step itself. One compile per input shape:
        # the validation batches have the same shapes in every pass.
        model.predict_step = tf.function(model.predict_step, jit_compile=True, reduce_retracing=True)
    for kind in ("train", "predict"):
        setattr(model, f"make_{kind}_function", _traced_without_autograph(getattr(model, f"make_{kind}_function")))


def build_training_variables(model, spec: TaskSpec) -> None:
    """Create Adam's slots and the metrics' variables now, all zeros, as the first step would.

    A `tf.function` whose first call creates variables is traced again once they exist, so
    Keras' train step, which creates them lazily, is traced twice before the first step runs.
    """
    model.optimizer.build(model.trainable_variables)
    model.compiled_metrics.build(tf.zeros([1, spec.num_labels]), tf.zeros([1]))  # shapes pick the metric's kind


def _traced_without_autograph(make_function):
    """Keras' `make_train_function` (or predict's), its step traced as plain Python.

    Autograph rewrites the source of every layer's `call` before tracing it, so that Python
    control flow on tensors becomes graph ops. Keras' steps and the models here have none, so
    the rewriting only lengthens a run's first step (results/report/measurements.md);
    the graph is the same.
    """
    plain = {}

    def make(force=False):
        keras_function = make_function(force=force)
        if not isinstance(keras_function, tf.types.experimental.PolymorphicFunction):
            return keras_function  # run eagerly, or scheduled by a cluster coordinator
        if keras_function is not plain.get("function") and keras_function is not plain.get("keras"):
            plain.update(keras=keras_function, function=tf.function(
                keras_function.python_function, reduce_retracing=True, autograph=False))
        return plain["function"]

    return make


class EpochTimer(tf_keras.callbacks.Callback):
    """Wall time of each epoch (its training steps and its validation pass), and the first epoch run.

    `first` is 0 unless a backup resumed training past its first epochs.
    """

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []
        self.first: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.first = epoch if self.first is None else self.first
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class PredictValidation(tf_keras.callbacks.Callback):
    """Validation loss and the task's metrics after each epoch, from `model.predict`.

    Keras' `validation_data` runs `evaluate`, whose traced function is not `predict`'s, so a
    run would trace the model twice for the same forward pass. Predicting here traces it once,
    during fit, for the final predict too, and puts the task's metrics in the history.
    (transformers' `KerasMetricCallback` calls `predict_on_batch`, which traces again for each
    batch shape.)

    Args:
        score: predicts the validation split and returns its loss and metrics (run.evaluate).
    """

    def __init__(self, score: Callable[[], dict]):
        super().__init__()
        self.score = score

    def on_epoch_end(self, epoch, logs=None):
        # History runs after this callback and records what it adds to `logs`.
        logs.update({f"val_{k}": v for k, v in self.score().items()})


def fit(
    model, train, validation, epochs: int, *, verbose: int | str, score: Callable[[], dict] | None = None,
    backup_dir=None, steps_per_epoch: int | None = None,
) -> tuple[dict, EpochTimer]:
    """`model.fit` with validation after each epoch: `score` (PredictValidation), else Keras' `validation_data`.

    Args:
        backup_dir: Keras' BackupAndRestore folder: training resumes from the last epoch saved there.
        steps_per_epoch: batches in an epoch of a train set that repeats (Inputs.fit_steps).

    Returns:
        Keras' history (metric name -> per-epoch floats, for the epochs this call ran) and the
        epoch timer (each epoch's wall seconds, the first epoch run).
    """
    timer = EpochTimer()
    if score is not None:
        callbacks, validation_data = [PredictValidation(score), timer], None
    else:
        callbacks, validation_data = [timer], validation
    if backup_dir is not None:
        callbacks.insert(0, tf_keras.callbacks.BackupAndRestore(str(backup_dir)))
    history = model.fit(train, validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=verbose,
                        steps_per_epoch=steps_per_epoch)
    return {k: [float(v) for v in values] for k, values in history.history.items()}, timer


def predict_logits(model, dataset, verbose: int | str) -> np.ndarray:
    """`model.predict(dataset)["logits"]` as a float32 array of shape (N, num_labels).

    Across workers Keras would shard `dataset` between them; there each worker predicts every
    row itself, with the weights all workers share, so that no row is dropped or repeated.
    """
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return _predict_locally(model, dataset)
    return np.asarray(model.predict(dataset, verbose=verbose)["logits"], dtype=np.float32)


def _predict_locally(model, dataset) -> np.ndarray:
    if not hasattr(model, "_local_forward"):
        model._local_forward = tf.function(lambda x: model(x, training=False).logits, reduce_retracing=True)
    return np.concatenate([model._local_forward(x).numpy() for x, _ in dataset]).astype(np.float32)
