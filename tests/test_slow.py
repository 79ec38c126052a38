"""Real fine-tuning runs on real GLUE data (minutes each): `python -m pytest -m slow`."""

import pytest

from glue_repro.config import MINILM_PRESET, Experiment
from glue_repro.run import run

pytestmark = pytest.mark.slow


def test_minilm_loads_its_pretrained_weights():
    from glue_repro import model

    classifier = model.build_model(MINILM_PRESET.model)
    assert classifier.config.hidden_size == 384 and classifier.config.num_hidden_layers == 6


def test_mpnet_base_joins_and_loads_its_pretrained_weights():
    """The course's scale offline: the five installed parts joined, 110M parameters loaded."""
    from glue_repro import model
    from glue_repro.config import MPNET_BASE_PRESET

    classifier = model.build_model(MPNET_BASE_PRESET.recipe.model)
    assert classifier.config.hidden_size == 768 and classifier.config.num_hidden_layers == 12
    assert 105e6 < classifier.count_params() < 115e6
    tokenizer = model.load_tokenizer(MPNET_BASE_PRESET.recipe.model)
    assert tokenizer("A pair .", "of sentences .")["input_ids"][0] == tokenizer.cls_token_id


def test_minilm_course_recipe_reaches_the_known_accuracy(glue_dir, tmp_path):
    """The full 3-epoch recipe, seed 42; the committed seed-42 runs score 0.8211 / 0.8735."""
    result, _ = run(MINILM_PRESET.replace(seed=42), data_dir=glue_dir, runs_dir=tmp_path, verbose=2)
    assert result["logits_shape"] == [408, 2]
    assert not result["collapsed"]
    assert result["metrics"]["accuracy"] >= 0.77
    assert result["metrics"]["f1"] >= 0.84


def test_minilm_sst2_the_courses_exercise(glue_dir, tmp_path):
    """SST-2 sized for a CPU: one epoch over its first 4,000 training rows (of 67,349), all 872 validation rows."""
    result, _ = run(MINILM_PRESET.replace(task="sst2", epochs=1, limit=4000, seed=42), data_dir=glue_dir,
                    runs_dir=tmp_path, verbose=2)
    assert result["num_examples"] == {"train": 4000, "validation": 872}
    assert not result["collapsed"]
    assert result["metrics"]["accuracy"] >= 0.80  # collapsed: 0.51; the quick preset's 2,000 rows: 0.80-0.82


def test_minilm_stsb_regression(glue_dir, tmp_path):
    """STS-B sized for a CPU: three epochs over its first 2,000 training rows (of 5,749), all 1,500 validation rows."""
    result, _ = run(MINILM_PRESET.replace(task="stsb", limit=2000, seed=42), data_dir=glue_dir, runs_dir=tmp_path,
                    verbose=2)
    assert result["num_examples"] == {"train": 2000, "validation": 1500}
    assert result["logits_shape"] == [1500, 1] and not result["collapsed"]
    assert result["metrics"]["pearson"] >= 0.65 and result["metrics"]["spearmanr"] >= 0.65  # all rows: 0.85


def test_deterministic_short_real_run_is_bit_identical(glue_dir, tmp_path):
    import subprocess
    import sys

    def once(out):
        cmd = [sys.executable, "-m", "glue_repro.cli", "run", "--preset", "minilm", "--limit", "96", "--epochs", "1",
               "--seed", "11", "--deterministic", "--verbose", "0", "--data-dir", str(glue_dir),
               "--results-dir", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        import json

        (path,) = out.glob("*.json")
        return json.loads(path.read_text())

    first, second = once(tmp_path / "a"), once(tmp_path / "b")
    assert first["logits_sha256"] == second["logits_sha256"]
    assert first["history"] == second["history"]


@pytest.fixture(scope="module")
def lr_decay_report(glue_dir, tmp_path_factory):
    """The experiment on real MRPC, 3 seeds x 3 arms, as `glue-repro lr-decay --preset minilm` runs it.

    One epoch over the first 2,000 training rows (253 steps), validation every 32 steps: sized to
    finish in about half an hour on 2 CPU cores (the README gives the measured time).
    """
    from glue_repro import lr_decay

    experiment = Experiment(config=MINILM_PRESET)
    report, _ = lr_decay.run(experiment, data_dir=glue_dir, out_dir=tmp_path_factory.mktemp("lr_decay"))
    return report


def _mean_steps(report, arm):  # a seed that misses the target counts as the whole budget
    return report["steps_to_target"][arm]["mean_steps_budget_for_missed"]


def test_lr_decay_beats_constant_1e3_in_every_seed(lr_decay_report):
    final = {(r["arm"], r["seed"]): r["final"] for r in lr_decay_report["runs"]}
    for seed in lr_decay_report["experiment"]["seeds"]:
        decay, high = final[("adam-decay-5e-5", seed)], final[("adam-constant-1e-3", seed)]
        assert decay["accuracy"] > high["accuracy"] and decay["f1"] > high["f1"], seed


def test_lr_decay_reaches_the_accuracy_target_before_constant_1e3(lr_decay_report):
    assert lr_decay_report["target_metric"] == "accuracy"
    assert lr_decay_report["steps_to_target"]["adam-decay-5e-5"]["reached"] == 3
    assert _mean_steps(lr_decay_report, "adam-decay-5e-5") < _mean_steps(lr_decay_report, "adam-constant-1e-3")


@pytest.mark.xfail(strict=True, reason=(
    "the issue's claim did not hold here (results/lr_decay/20261126-000213-minilm-lr-decay.json): in one "
    "short epoch constant 5e-5 reached the accuracy target first (117 vs 128 steps, 3-seed mean); the "
    "decay's rate is never higher. XPASS means that changed"))
def test_lr_decay_reaches_the_accuracy_target_before_constant_5e5(lr_decay_report):
    assert _mean_steps(lr_decay_report, "adam-decay-5e-5") < _mean_steps(lr_decay_report, "adam-constant-5e-5")
