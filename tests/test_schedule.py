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
