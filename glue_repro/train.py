"""Compile, fit and predict: the course's Keras recipe, with its optimizer schedule."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
import tf_keras

from glue_repro import metric
from glue_repro.config import RecipeConfig


def learning_rate(config: RecipeConfig, total_steps: int):
    """The course's `PolynomialDecay(lr -> end_lr)` over all training steps, or a constant."""
    if config.schedule == "constant":
        return config.learning_rate
    return tf_keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=config.learning_rate,
        end_learning_rate=config.end_learning_rate,
        decay_steps=total_steps,
    )


def compile_model(model, config: RecipeConfig, steps_per_epoch: int) -> None:
    """Adam on the schedule, sparse cross-entropy on logits, accuracy."""
    total_steps = steps_per_epoch * config.epochs
    # Keras' own default compiles the update with XLA on a GPU; deterministic runs use no XLA at all.
    optimizer = tf_keras.optimizers.Adam(learning_rate(config, total_steps), jit_compile=not config.deterministic)
    if config.xla_optimizer:
        # On the CPU Keras leaves it unfused: about ten passes over every weight-sized tensor,
        # the 11.7M-entry word embeddings included. That was 300 ms of a 640 ms minilm step
        # on the 2-core CPU here; fused, 50 ms. Same Adam, and no randomness in it.
        optimizer.jit_compile = True
    model.compile(
        optimizer=optimizer,
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=config.xla,
    )
    if config.xla_predict and not config.xla:
        # Keras' jit_compile would compile training too; wrapping the predict step compiles
        # the forward pass alone, as Keras wraps each step itself. One compile per input shape:
        # the validation batches have the same shapes in every pass.
        model.predict_step = tf.function(model.predict_step, jit_compile=True, reduce_retracing=True)


class EpochTimer(tf_keras.callbacks.Callback):
    """Wall time of each epoch (its training steps and its validation pass)."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class PredictValidation(tf_keras.callbacks.Callback):
    """Validation loss, accuracy and F1 after each epoch, from `model.predict`.

    Keras' `validation_data` runs `evaluate`, whose traced function is not `predict`'s, so a
    run would trace the model twice for the same forward pass. Predicting here traces it once,
    during fit, for the final predict too, and puts F1 in the history. (transformers'
    `KerasMetricCallback` calls `predict_on_batch`, which traces again for each batch shape.)
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_train_begin(self, logs=None):
        self.labels = np.concatenate([np.asarray(y) for _, y in self.dataset])

    def on_epoch_end(self, epoch, logs=None):
        # History runs after this callback and records what it adds to `logs`.
        logits = predict_logits(self.model, self.dataset, verbose=0)
        logs.update({f"val_{k}": v for k, v in metric.validation_scores(logits, self.labels).items()})


def fit(
    model, train, validation, epochs: int, validate_with_predict: bool = False, verbose: int | str = "auto"
) -> tuple[dict, list[float]]:
    """`model.fit` with validation after each epoch: Keras' `validation_data`, or `PredictValidation`.

    Returns:
        Keras' history (metric name -> per-epoch floats) and each epoch's wall seconds.
    """
    timer = EpochTimer()
    if validate_with_predict:
        callbacks, validation_data = [PredictValidation(validation), timer], None
    else:
        callbacks, validation_data = [timer], validation
    history = model.fit(train, validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    return {k: [float(v) for v in values] for k, values in history.history.items()}, timer.seconds


def predict_logits(model, dataset, verbose: int | str = "auto") -> np.ndarray:
    """`model.predict(dataset)["logits"]` as a float32 array of shape (N, 2)."""
    return np.asarray(model.predict(dataset, verbose=verbose)["logits"], dtype=np.float32)
