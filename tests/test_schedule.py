import numpy as np
import pytest

from glue_repro.config import MINILM_PRESET
from glue_repro.schedule import learning_rate


@pytest.mark.parametrize("total_steps", [1, 10, 1377])
def test_the_course_decay_is_linear_from_the_recipes_rate_to_its_end_over_all_steps(total_steps):
    recipe = MINILM_PRESET.replace(learning_rate=3e-5, end_learning_rate=1e-6).recipe
    assert learning_rate(recipe, total_steps).get_config() == {
        "initial_learning_rate": 3e-5, "end_learning_rate": 1e-6, "decay_steps": total_steps, "power": 1.0,
        "cycle": False, "name": None,
    }


def test_constant_schedule():
    assert learning_rate(MINILM_PRESET.replace(schedule="constant", learning_rate=1e-3).recipe, 100) == 1e-3


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
