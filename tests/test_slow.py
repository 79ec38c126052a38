"""Real fine-tuning runs on real MRPC (minutes each): `python -m pytest -m slow`."""

import pytest

from glue_repro.config import MINILM_PRESET
from glue_repro.pipeline import run

pytestmark = pytest.mark.slow


def test_minilm_loads_its_pretrained_weights():
    from glue_repro import model

    classifier = model.build_model(MINILM_PRESET.model)
    assert classifier.config.hidden_size == 384 and classifier.config.num_hidden_layers == 6


def test_minilm_course_recipe_reaches_the_known_accuracy(glue_dir, tmp_path):
    """The full 3-epoch recipe, seed 42 (~20 min on 2 CPU cores); measured 0.789 / 0.857."""
    result, _ = run(MINILM_PRESET.replace(seed=42), data_dir=glue_dir, runs_dir=tmp_path, verbose=2)
    assert result["logits_shape"] == [408, 2]
    assert not result["collapsed"]
    assert result["metrics"]["accuracy"] >= 0.77
    assert result["metrics"]["f1"] >= 0.84
