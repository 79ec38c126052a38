import pytest


def test_label_names_a_revision_other_than_the_presets():
    from glue_repro.config import COURSE

    assert COURSE.label == "course"
    assert COURSE.replace(revision="main").label == "course@main"


def test_recipe_of_fills_fields_older_results_lack():
    from glue_repro.config import COURSE, recipe_of

    stored = COURSE.to_dict()
    del stored["recipe"]["revision"]
    assert recipe_of(stored)["revision"] is None
    assert recipe_of(COURSE.to_dict()) == COURSE.to_dict()["recipe"]


def test_presets_by_name_and_a_clear_error_for_others():
    from glue_repro.config import PRESETS, preset
    from glue_repro.errors import GlueReproError

    assert preset("minilm") is PRESETS["minilm"] and preset("course").recipe.model == "bert-base-uncased"
    with pytest.raises(GlueReproError, match=r"^unknown preset 'bert'; known presets: quick, course, "):
        preset("bert")


RECIPE_REFUSALS = [
    ("revision", " ", "must not be empty"),
    ("task", "squad", "must be one of mrpc, sst2, cola, stsb, rte, wnli, qqp, qnli, mnli"),
    ("batch_size", 0, "must be >= 1"),
    ("epochs", 0, "must be >= 1"),
    ("learning_rate", 0.0, "must be > 0"),
    ("end_learning_rate", -1e-9, "must be >= 0"),
    ("limit", 0, "must be >= 1"),
    ("train_rows", 0, "must be >= 1"),
    ("max_length", 7, "must be >= 8"),
    ("schedule", "cosine", "must be one of ('polynomial', 'constant')"),
    ("precision", "float16", "must be one of ('float32', 'mixed_float16', 'mixed_bfloat16')"),
    ("matmul_precision", "tf32", "must be one of ('float32', 'bfloat16')"),
]
SPEED_REFUSALS = [
    ("strategy", "tpu", "must be one of ('default', 'mirrored', 'multiworker')"),
    ("cpu_replicas", 0, "must be >= 1"),
    ("predict_batch_size", 0, "must be >= 1"),
    ("input_pipeline", "fast", "must be one of ('bucketed', 'course')"),
]


@pytest.mark.parametrize("field, value, why", RECIPE_REFUSALS + SPEED_REFUSALS)
def test_every_config_check_names_its_field_value_and_rule(field, value, why):
    from glue_repro.config import TINY_PRESET
    from glue_repro.errors import GlueReproError

    with pytest.raises(GlueReproError) as refused:
        TINY_PRESET.replace(**{field: value})
    assert str(refused.value) == f"config field {field}={value!r}: {why}"


@pytest.mark.parametrize("field, lowest", [("batch_size", 1), ("epochs", 1), ("learning_rate", 1e-12),
                                           ("end_learning_rate", 0.0), ("limit", 1), ("train_rows", 1),
                                           ("max_length", 8), ("cpu_replicas", 1), ("predict_batch_size", 1)])
def test_the_lowest_allowed_values_are_allowed(field, lowest):
    from glue_repro.config import TINY_PRESET

    changed = TINY_PRESET.replace(**{field: lowest})
    assert getattr(changed.recipe, field, getattr(changed.speed, field, None)) == lowest


def test_xla_and_determinism_exclude_each_other_and_determinism_turns_every_xla_off():
    from glue_repro.config import Speed
    from glue_repro.errors import GlueReproError

    with pytest.raises(GlueReproError) as refused:
        Speed(xla=True, deterministic=True)
    assert str(refused.value) == ("config field xla=True: cannot be combined with deterministic "
                                  "(XLA ignores dropout seeds)")
    speed = Speed(xla_predict=True, xla_optimizer=True, deterministic=True)
    assert speed.xla_predict is False and speed.xla_optimizer is False
    assert Speed(xla_predict=True, xla_optimizer=True).xla_predict is True  # untouched without determinism


def test_unknown_fields_are_all_named():
    from glue_repro.config import TINY_PRESET
    from glue_repro.errors import GlueReproError

    with pytest.raises(GlueReproError) as refused:
        TINY_PRESET.replace(lr=1, epoch=2)
    assert str(refused.value) == "config has no field(s) epoch, lr"


def test_a_flat_schema_1_config_reads_into_its_parts():
    from glue_repro.config import from_dict

    config = from_dict({"preset": "minilm-ci", "model": "m", "epochs": 1, "seed": 3, "xla": False,
                        "predict_batch_size": 32})
    assert (config.preset, config.recipe.model, config.recipe.epochs, config.seed) == ("minilm-ci", "m", 1, 3)
    assert config.speed.predict_batch_size == 32


def test_an_unknown_task_lists_the_known_ones():
    from glue_repro.errors import GlueReproError
    from glue_repro.tasks import task

    with pytest.raises(GlueReproError) as refused:
        task("squad")
    assert str(refused.value) == "unknown task 'squad'; known tasks: mrpc, sst2, cola, stsb, rte, wnli, qqp, qnli, mnli"


def test_every_fast_path_is_on_by_default_and_off_in_the_course_speed():
    from glue_repro.config import COURSE_SPEED, Speed

    fast_paths = ("cls_only_last_layer", "fused_gelu", "validate_with_predict", "xla_optimizer")
    assert all(getattr(Speed(), name) is True for name in fast_paths)
    assert all(getattr(COURSE_SPEED, name) is False for name in fast_paths)
    assert (Speed().input_pipeline, COURSE_SPEED.input_pipeline) == ("bucketed", "course")


def test_the_bfloat16_matmul_mode_runs_the_feed_forward_block_unfused_and_is_labelled():
    from glue_repro.config import MINILM_PRESET, from_dict

    config = MINILM_PRESET.replace(matmul_precision="bfloat16")
    assert MINILM_PRESET.speed.fused_gelu and not config.speed.fused_gelu
    assert not config.replace(fused_gelu=True).speed.fused_gelu  # asked for again, still off
    assert from_dict(config.to_dict()) == config  # stored as it ran
    assert (config.label, MINILM_PRESET.replace(precision="mixed_bfloat16").label) == (
        "minilm+bf16-matmul", "minilm+mixed_bfloat16")


@pytest.mark.parametrize(("field", "value", "why"), [("eval_every", 0, "must be >= 1"),
                                                     ("train_rows", 0, "must be >= 1"), ("epochs", 0, "must be >= 1")])
def test_every_experiment_check_names_its_field_value_and_rule(field, value, why):
    from glue_repro.config import MINILM_PRESET, Experiment
    from glue_repro.errors import GlueReproError

    with pytest.raises(GlueReproError) as refused:
        Experiment(MINILM_PRESET, **{field: value})
    assert str(refused.value) == f"config field {field}={value!r}: {why}"
    kept = Experiment(MINILM_PRESET, train_rows=None, eval_every=1, epochs=1)
    assert (kept.train_rows, kept.eval_every, kept.epochs, kept.seeds) == (None, 1, 1, (1, 2, 3))
    assert Experiment(MINILM_PRESET, train_rows=1).train_rows == 1


def test_every_recipe_and_speed_field_is_an_option_with_help_and_its_choices():
    import dataclasses

    from glue_repro.config import (
        INPUT_PIPELINES,
        MATMUL_PRECISIONS,
        PRECISIONS,
        SCHEDULES,
        Experiment,
        Recipe,
        Speed,
        options,
    )
    from glue_repro.distribute import STRATEGIES
    from glue_repro.tasks import TASKS

    for cls in (Recipe, Speed):
        assert [f.name for f in options(cls)] == [f.name for f in dataclasses.fields(cls)]
    assert [f.name for f in options(Experiment)] == ["eval_every", "target", "loss_target"]  # the rest: by hand
    choices = {f.name: f.metadata.get("choices") for cls in (Recipe, Speed) for f in options(cls)}
    assert {k: v for k, v in choices.items() if v is not None} == {
        "task": tuple(TASKS), "schedule": SCHEDULES, "precision": PRECISIONS, "matmul_precision": MATMUL_PRECISIONS,
        "input_pipeline": INPUT_PIPELINES, "strategy": STRATEGIES}
    for f in (*dataclasses.fields(Recipe), *dataclasses.fields(Speed)):
        assert len(f.metadata["help"]) > 8 and "flag" not in f.metadata, f.name  # an option unless it says not
    flags = {f.name: f.metadata.get("flag", True) for f in dataclasses.fields(Experiment)}
    assert [name for name, flag in flags.items() if not flag] == ["config", "seeds", "train_rows", "epochs"]


def test_labels_name_what_differs_from_the_preset():
    from glue_repro.config import COURSE, MINILM_PRESET

    assert MINILM_PRESET.replace(model="/x/My Model!! v2/").label == "minilm+My_Model_v2"  # runs of others: one _
    assert COURSE.replace(revision=None).label == "course@main"
    both = MINILM_PRESET.replace(precision="mixed_bfloat16", matmul_precision="bfloat16")
    assert both.label == "minilm+mixed_bfloat16+bf16-matmul"
    assert MINILM_PRESET.replace(matmul_precision="bfloat16").speed.fused_gelu is False
