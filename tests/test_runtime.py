"""Process-wide settings made before TensorFlow and the Hub libraries load."""

import os

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


@pytest.mark.parametrize(("gpu", "native", "onednn", "works", "precision", "matmul", "error"), [
    (False, True, True, True, "float32", "float32", None),
    (True, False, True, True, "mixed_float16", "float32", None),
    (False, True, True, True, "mixed_float16", "float32",
     "config field precision='mixed_float16': needs a GPU, and TensorFlow sees none; on the CPU use float32, or "
     "mixed_bfloat16 where the CPU has AMX or AVX512-BF16"),
    (False, True, True, True, "mixed_bfloat16", "float32", None),
    (True, False, True, True, "mixed_bfloat16", "float32", None),
    (False, False, True, True, "mixed_bfloat16", "float32",
     "config field precision='mixed_bfloat16': this CPU has no AMX or AVX512-BF16 (oneDNN would emulate bfloat16, "
     "slower than float32) and TensorFlow sees no GPU; use float32"),
    (False, True, True, True, "float32", "bfloat16", None),
    (True, True, True, True, "float32", "bfloat16",
     "config field matmul_precision='bfloat16': a CPU (oneDNN) mode, and TensorFlow sees a GPU, where float32 "
     "matmuls already use TF32 where the GPU has it; use float32"),
    (False, True, False, True, "float32", "bfloat16",
     "config field matmul_precision='bfloat16': needs TensorFlow's oneDNN kernels; unset TF_ENABLE_ONEDNN_OPTS=0"),
    (False, False, True, False, "float32", "bfloat16",
     "config field matmul_precision='bfloat16': oneDNN keeps float32 matmuls exact on this CPU even in its bfloat16 "
     "mode (tried in a new process); use float32"),
    (False, True, True, False, "float32", "bfloat16",  # AVX512-BF16 without AMX (Zen 4)
     "config field matmul_precision='bfloat16': oneDNN keeps float32 matmuls exact on this CPU even in its bfloat16 "
     "mode (tried in a new process); use float32, or precision mixed_bfloat16, which computes in bfloat16 on this "
     "CPU's AVX512-BF16"),
])
def test_reduced_precision_is_refused_in_one_line_where_this_machine_lacks_it(gpu, native, onednn, works, precision,
                                                                              matmul, error, monkeypatch):
    import tensorflow as tf

    from glue_repro.errors import GlueReproError

    gpus = ["GPU:0"] if gpu else []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(runtime, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(runtime, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(runtime, "bfloat16_matmul_mode_works", lambda: works)
    if error is None:
        runtime.check_arithmetic(precision, matmul)
    else:
        with pytest.raises(GlueReproError) as err:
            runtime.check_arithmetic(precision, matmul)
        assert str(err.value) == error


@pytest.mark.parametrize(("stdout", "code", "works"), [("True\n", 0, True), ("False\n", 0, False),
                                                       ("warning\nTrue\n", 0, True), ("True", 1, False)])
def test_the_bfloat16_mode_is_tried_in_a_new_process_that_asks_before_tensorflow_loads(stdout, code, works,
                                                                                        monkeypatch):
    import subprocess

    asked = {}

    def run(argv, env, **kwargs):
        asked.update(argv=argv, env=env, **kwargs)
        return subprocess.CompletedProcess(argv, code, stdout=stdout, stderr="")

    monkeypatch.setattr(runtime.subprocess, "run", run)
    runtime.bfloat16_matmul_mode_works.cache_clear()
    try:
        assert runtime.bfloat16_matmul_mode_works() is works
    finally:
        runtime.bfloat16_matmul_mode_works.cache_clear()
    assert asked["env"][runtime.FPMATH] == "BF16" and asked["env"][runtime.ONEDNN] == "1"
    assert asked["argv"][1] == "-c" and "bfloat16_matmul_in_effect" in asked["argv"][2]
    assert asked["capture_output"] and asked["text"] and asked["timeout"] > 0


@pytest.mark.parametrize(("wanted", "in_effect", "env"), [("bfloat16", True, "BF16"), ("float32", False, ""),
                                                          ("bfloat16", False, ""), ("float32", True, "BF16")])
def test_the_matmul_mode_is_asked_for_and_a_mode_fixed_otherwise_is_one_line(wanted, in_effect, env, monkeypatch):
    from glue_repro.errors import GlueReproError

    monkeypatch.setattr(runtime, "bfloat16_matmul_in_effect", lambda: in_effect)
    monkeypatch.setenv(runtime.FPMATH, "unset")
    if (wanted == "bfloat16") == in_effect:
        runtime.set_matmul_precision(wanted)
    else:
        with pytest.raises(GlueReproError, match=f"^config field matmul_precision='{wanted}': this process has already "
                           f"fixed oneDNN's matmul mode \\(({'strict float32' if wanted == 'bfloat16' else 'bfloat16'})"
                           r"\) at its first matmul; run it in a new process$"):
            runtime.set_matmul_precision(wanted)
    assert os.environ[runtime.FPMATH] == env  # the mode in effect, for the processes this one starts


def test_onednn_is_asked_for_unless_the_environment_chose(monkeypatch):
    monkeypatch.delenv(runtime.ONEDNN, raising=False)
    runtime.prefer_onednn()
    assert os.environ[runtime.ONEDNN] == "1"
    monkeypatch.setenv(runtime.ONEDNN, "0")
    runtime.prefer_onednn()
    assert os.environ[runtime.ONEDNN] == "0"
