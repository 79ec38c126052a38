"""The learning-rate schedule of the recipe: the course's PolynomialDecay over all training steps."""

from __future__ import annotations

import tf_keras

from glue_repro.config import Recipe


def learning_rate(recipe: Recipe, total_steps: int):
    """The course's `PolynomialDecay(lr -> end_lr)` over all training steps, or a constant."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
    return tf_keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=recipe.learning_rate,
        end_learning_rate=recipe.end_learning_rate,
        decay_steps=total_steps,
    )
