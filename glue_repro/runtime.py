"""Process-wide TensorFlow settings. They take effect only if made before TensorFlow is imported."""

from __future__ import annotations

import os

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn() -> None:
    """Ask TensorFlow for its oneDNN CPU kernels, unless the environment has already chosen.

    TensorFlow's x86 wheels turn oneDNN on by default only on some CPUs; on the 2-core AVX2
    AMD EPYC here it was off. On, the same graphs run as `_MklMatMul`, fused batched
    attention matmuls and oneDNN softmax. In alternating runs a minilm predict pass over MRPC
    validation ran at 77-92 examples/s against 72-84 off (and one pass at 40), fit no faster;
    a 2048x2048 float32 TF matmul ran at 141 GFLOP/s against 101.
    Set TF_ENABLE_ONEDNN_OPTS=0 to opt out.
    """
    os.environ.setdefault(ONEDNN, "1")


def onednn_enabled() -> bool:
    """Whether TensorFlow, as imported in this process, runs its oneDNN kernels."""
    # TF's own tests ask the same private function; there is no public one.
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
