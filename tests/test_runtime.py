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


@pytest.mark.parametrize("threads", [None, 3])
def test_threads_set_both_of_tensorflows_pools_or_neither(threads, monkeypatch):
    import tensorflow as tf

    set_to = {}
    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", lambda n: set_to.update(intra=n))
    monkeypatch.setattr(tf.config.threading, "set_inter_op_parallelism_threads", lambda n: set_to.update(inter=n))
    runtime.set_threads(threads)
    assert set_to == ({} if threads is None else {"intra": 3, "inter": 3})


@pytest.mark.parametrize("deterministic", [False, True])
def test_setup_seeds_everything_and_turns_on_determinism_only_when_asked(deterministic, monkeypatch):
    import tensorflow as tf
    import tf_keras

    from glue_repro.config import TINY_PRESET

    done = []
    monkeypatch.setattr(tf_keras.utils, "set_random_seed", lambda seed: done.append(("seed", seed)))
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: done.append(("deterministic",)))
    monkeypatch.setattr(runtime, "check_arithmetic", lambda *args: done.append(("checked", *args)))
    monkeypatch.setattr(tf_keras.mixed_precision, "set_global_policy", lambda p: done.append(("policy", p)))
    monkeypatch.setattr(runtime, "set_matmul_precision", lambda p: done.append(("matmul", p)))
    runtime.setup(TINY_PRESET.replace(seed=7, deterministic=deterministic))
    assert done == [("seed", 7), *([("deterministic",)] if deterministic else []),
                    ("checked", "float32", "float32"), ("policy", "float32"), ("matmul", "float32")]
