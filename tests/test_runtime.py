"""Process-wide settings made before TensorFlow and the Hub libraries load."""

import pytest

from glue_repro import runtime

QUIETED = ("TF_CPP_MIN_LOG_LEVEL", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY",
           "TRANSFORMERS_NO_ADVISORY_WARNINGS", "HF_HUB_VERBOSITY")


@pytest.fixture
def clean_env(monkeypatch):
    for name in QUIETED:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_third_party_chatter_is_off_unless_debugging(clean_env):
    import os

    runtime.quiet_third_party(debug=False)
    assert [os.environ[name] for name in QUIETED] == ["3", "1", "error", "1", "error"]  # retries of an offline Hub too


def test_debugging_keeps_every_library_log_and_a_users_choice_wins(clean_env):
    import os

    clean_env.setenv("HF_HUB_VERBOSITY", "info")
    runtime.quiet_third_party(debug=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and os.environ["HF_HUB_VERBOSITY"] == "info"
    assert "TRANSFORMERS_VERBOSITY" not in os.environ
