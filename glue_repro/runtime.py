"""Process-wide TensorFlow settings. They take effect only if made before TensorFlow is imported."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from glue_repro.environment import cpu_has_native_bfloat16, onednn_enabled
from glue_repro.errors import GlueReproError

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
FPMATH = "TF_SET_ONEDNN_FPMATH_MODE"  # "BF16": oneDNN may multiply float32 in bfloat16


def prefer_onednn() -> None:
    """Ask TensorFlow for its oneDNN CPU kernels, unless the environment has already chosen.

    TensorFlow's x86 wheels turn oneDNN on by default only on some CPUs (on AVX2 AMD CPUs it is
    off). On, matmuls, batched attention matmuls and softmax run as oneDNN kernels, which
    were faster here (results/report/measurements.md). Set TF_ENABLE_ONEDNN_OPTS=0 to opt out.
    """
    os.environ.setdefault(ONEDNN, "1")


def set_matmul_precision(precision: str) -> None:
    """Ask oneDNN for strict float32 matmuls ("float32") or bfloat16 products summed in float32
    ("bfloat16", its fpmath mode, which AMX runs faster), like TF32 on a GPU.

    TensorFlow reads the choice once, at the process's first oneDNN matmul: a later change
    cannot take effect, so this checks the mode in effect and says so.
    """
    wanted = precision == "bfloat16"
    os.environ[FPMATH] = "BF16" if wanted else ""
    if bfloat16_matmul_in_effect() != wanted:
        os.environ[FPMATH] = "" if wanted else "BF16"  # as it is in effect, for child processes
        raise GlueReproError(
            f"config field matmul_precision={precision!r}: this process has already fixed oneDNN's matmul mode "
            f"({'strict float32' if wanted else 'bfloat16'}) at its first matmul; run it in a new process"
        )


def bfloat16_matmul_in_effect() -> bool:
    """Whether float32 batch matmuls in this process round their inputs to bfloat16.

    1 + 2**-10 is exact in float32 and rounds to 1 in bfloat16 (8 bits of mantissa).
    """
    import tensorflow as tf

    x = tf.fill([1, 16, 16], 1 + 2.0**-10)
    return float(tf.linalg.matmul(x, tf.eye(16, batch_shape=[1]))[0, 0, 0]) == 1.0


@functools.cache
def bfloat16_matmul_mode_works() -> bool:
    """Whether oneDNN on this CPU really multiplies float32 in bfloat16 when asked to, tried in a new
    process that asks before TensorFlow loads (some CPUs with AVX512-BF16 and no AMX keep it exact)."""
    probe = ("from glue_repro import runtime; runtime.import_tensorflow_quietly(); "
             "print(runtime.bfloat16_matmul_in_effect())")
    env = {**os.environ, FPMATH: "BF16", ONEDNN: "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    return done.returncode == 0 and done.stdout.strip().endswith("True")


def quiet_third_party(debug: bool = False) -> None:
    """Keep TensorFlow's C++ logs (the CUDA probe on a CPU machine among them), tokenize progress
    bars and transformers' advisory banners off stderr, unless debugging or the environment chose.

    They are read when those libraries load, so this must run before they are imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "3")
    if not debug:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # the Hub client's retry warnings, when offline


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and tf-keras with stderr closed at the file-descriptor level.

    TensorFlow's C++ logs written before its logging starts (the CUDA probe, the oneDNN notice)
    ignore TF_CPP_MIN_LOG_LEVEL. An import that fails still raises, and is shown as usual.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
        import tf_keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def set_threads(threads: int | None) -> None:
    """TensorFlow's intra- and inter-op thread pools, before its first op (None: its default, one per core)."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def setup(config) -> None:
    """Seed Python, numpy and TF; set determinism, the precision policy and the matmul mode."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(config.seed)
    if config.speed.deterministic:
        tf.config.experimental.enable_op_determinism()
    check_arithmetic(config.recipe.precision, config.recipe.matmul_precision)
    tf_keras.mixed_precision.set_global_policy(config.recipe.precision)
    set_matmul_precision(config.recipe.matmul_precision)


def check_arithmetic(precision: str, matmul_precision: str) -> None:
    """Reduced precision where this machine has it: mixed policies on a GPU, or bfloat16 on a CPU
    that multiplies it in hardware; the bfloat16 matmul mode is oneDNN's, where a new process shows it working."""
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    field = f"config field precision={precision!r}"
    if precision == "mixed_float16" and not gpu:
        raise GlueReproError(f"{field}: needs a GPU, and TensorFlow sees none; on the CPU use float32, "
                             "or mixed_bfloat16 where the CPU has AMX or AVX512-BF16")
    if precision == "mixed_bfloat16" and not gpu and not cpu_has_native_bfloat16():
        raise GlueReproError(f"{field}: this CPU has no AMX or AVX512-BF16 (oneDNN would emulate bfloat16, "
                             "slower than float32) and TensorFlow sees no GPU; use float32")
    if matmul_precision == "float32":
        return
    field = f"config field matmul_precision={matmul_precision!r}"
    if gpu:
        raise GlueReproError(f"{field}: a CPU (oneDNN) mode, and TensorFlow sees a GPU, where float32 matmuls "
                             "already use TF32 where the GPU has it; use float32")
    if not onednn_enabled():
        raise GlueReproError(f"{field}: needs TensorFlow's oneDNN kernels; unset TF_ENABLE_ONEDNN_OPTS=0")
    if not bfloat16_matmul_mode_works():
        raise GlueReproError(f"{field}: oneDNN keeps float32 matmuls exact on this CPU even in its bfloat16 mode "
                             f"(tried in a new process); {instead_of_bfloat16_matmuls()}")


def instead_of_bfloat16_matmuls() -> str:
    """What to use where oneDNN's bfloat16 matmul mode keeps float32 exact."""
    return "use float32" + (", or precision mixed_bfloat16, which computes in bfloat16 on this CPU's AVX512-BF16"
                            if cpu_has_native_bfloat16() else "")
