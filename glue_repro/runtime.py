"""Process-wide TensorFlow settings. They take effect only if made before TensorFlow is imported."""

from __future__ import annotations

import os
import re
import sys

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


def onednn_enabled() -> bool:
    """Whether TensorFlow, as imported in this process, runs its oneDNN kernels."""
    # TF's own tests ask the same private function; there is no public one.
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def cpu_has_native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16), as oneDNN needs to
    run a bfloat16 model faster than a float32 one. Elsewhere oneDNN emulates bfloat16, slower.

    Read from Linux's CPU flags; False where there are none to read.
    """
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    first = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return bool(first and {"amx_bf16", "avx512_bf16"} & set(first.group(1).split()))


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
