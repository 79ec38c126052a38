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
