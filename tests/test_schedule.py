import numpy as np
import pytest

from glue_repro.config import MINILM_PRESET
from glue_repro.schedule import learning_rate


@pytest.mark.parametrize("total_steps", [1, 10, 1377])
def test_polynomial_decay_from_5e5_to_zero(total_steps):
    schedule = learning_rate(MINILM_PRESET.recipe, total_steps)
    rates = np.array([float(schedule(step)) for step in range(total_steps + 1)])
    assert rates[0] == pytest.approx(5e-5, rel=1e-6)
    assert rates[-1] == 0.0
    assert np.all(np.diff(rates) <= 0)
    assert np.all(np.diff(rates) < 0) or total_steps == 1


def test_course_schedule_length_is_batches_per_epoch_times_epochs():
    # 3,668 rows / batch 8 = 459 batches (the last one partial) x 3 epochs.
    schedule = learning_rate(MINILM_PRESET.recipe, 459 * 3)
    assert float(schedule(1376)) > 0.0 and float(schedule(1377)) == 0.0


def test_constant_schedule():
    assert learning_rate(MINILM_PRESET.replace(schedule="constant", learning_rate=1e-3).recipe, 100) == 1e-3


def test_the_compiled_optimizer_decays_over_every_epochs_steps():
    """What the built model's optimizer got: 5e-5 at step 0, zero only after all epochs' steps."""
    from glue_repro import model, train
    from glue_repro.config import TINY_PRESET

    classifier = model.build_model("tiny")
    train.compile_model(classifier, TINY_PRESET.replace(epochs=3), steps_per_epoch=5)
    import tf_keras

    rate = tf_keras.optimizers.schedules.deserialize(classifier.optimizer.get_config()["learning_rate"])
    assert float(rate(0)) == pytest.approx(5e-5, rel=1e-6)
    assert float(rate(10)) == pytest.approx(5e-5 / 3, rel=1e-5)  # two thirds of the way
    assert float(rate(14)) > 0.0 and float(rate(15)) == 0.0
