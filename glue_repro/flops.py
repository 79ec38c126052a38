"""FLOP counts for BERT-style encoders, and the measured matmul peak they are judged against.

The count (per sequence of L real tokens, d hidden size, n layers, N non-embedding params):
  forward   = 2 * N * L  (every weight does one multiply-add per token)
            + 4 * n * L^2 * d  (attention scores QK^T and the weighted sum AV)
  training  = 3 * forward  (the backward pass costs about twice the forward)
With the [CLS]-only last layer (last_layer.py) that layer does its key and value projections
for every token but its query, attention output and feed-forward for [CLS] alone, and the
count says so: MFU counts the work the model really does.
MFU is achieved FLOP/s over the peak of a large float32 matmul on the same device.
"""

from __future__ import annotations

import time


def non_embedding_params(config) -> int:
    """Weights that touch every token: the encoder layers and pooler, not the lookup tables.

    >>> from transformers import BertConfig
    >>> non_embedding_params(BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536))
    10794624
    """
    d, ff, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    attention = 4 * (d * d + d) + 2 * d  # Q, K, V, output projections + LayerNorm
    feed_forward = d * ff + ff + ff * d + d + 2 * d  # two dense layers + LayerNorm
    pooler = d * d + d
    return n * (attention + feed_forward) + pooler


def forward_flops(config, lengths, cls_only_last_layer: bool = False) -> float:
    """Forward FLOPs over sequences with these real-token lengths.

    >>> from transformers import BertConfig
    >>> c = BertConfig(hidden_size=4, num_hidden_layers=1, intermediate_size=8)
    >>> non_embedding_params(c)  # layer: 4*(16+4)+8 + (32+8+32+4+8) = 172; pooler: 20
    192
    >>> forward_flops(c, [2])  # 2 * 192 * 2 + 4 * 1 * 2^2 * 4
    832.0
    >>> import numpy as np  # int32 lengths, as bucketing.lengths_of gives them, must not overflow
    >>> minilm = BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536)
    >>> forward_flops(minilm, np.array([128], dtype=np.int32)) == forward_flops(minilm, [128]) > 2**31
    True

    The [CLS]-only last layer: of its 172 weights, keys and values (2 * (16 + 4) = 40) see both
    tokens, the other 132 one token; its attention has one query: 832 - 2 * 132 - 4 * 2 * 4 = 536.

    >>> forward_flops(c, [2], cls_only_last_layer=True)
    536.0
    """
    n_params = non_embedding_params(config)
    d, n = config.hidden_size, config.num_hidden_layers
    layer = (n_params - (d * d + d)) // n  # one encoder layer's weights, the pooler's aside
    key_value = 2 * (d * d + d)
    total = 0
    for length in (int(length) for length in lengths):  # Python ints: numpy's int32 overflows at these counts
        total += 2 * n_params * length + 4 * n * length * length * d
        if cls_only_last_layer:  # the tokens after [CLS] skip all but keys and values in the last layer
            total -= 2 * (layer - key_value) * (length - 1) + 4 * length * (length - 1) * d
    return float(total)


def train_flops(config, lengths, cls_only_last_layer: bool = False) -> float:
    return 3 * forward_flops(config, lengths, cls_only_last_layer)


def matmul_peak_gflops(device: str = "/CPU:0", n: int = 2048, dtype: str = "float32", repeats: int = 5,
                       batched: bool = False) -> float:
    """Best GFLOP/s of an n x n matmul through TensorFlow on `device` (result forced to the host).

    batched: as a batch of one through BatchMatMulV2, the path of the bfloat16 matmul mode.
    """
    import tensorflow as tf

    shape = (1, n, n) if batched else (n, n)
    with tf.device(device):
        a = tf.random.uniform(shape, dtype=dtype)
        b = tf.random.uniform(shape, dtype=dtype)
        matmul = tf.function(lambda x, y: tf.reduce_sum(tf.linalg.matmul(x, y)))
        matmul(a, b).numpy()  # trace and warm up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(a, b).numpy()
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def utilization(model_config, train_rows, validation_rows, cls_only: bool, epochs_run: int, fit_seconds: float,
                predict_seconds: float, peak: float) -> dict:
    """Achieved GFLOP/s of fit and predict (this module's count of the work the model does, on
    real tokens: training plus each epoch's validation pass) and their share of the matmul peak."""
    predict_flop = forward_flops(model_config, _lengths(validation_rows), cls_only)
    per_epoch = train_flops(model_config, _lengths(train_rows), cls_only) + predict_flop
    fit = epochs_run * per_epoch / fit_seconds / 1e9
    predict = predict_flop / predict_seconds / 1e9
    return {"peak_gflops": peak, "fit_gflops_per_second": fit, "predict_gflops_per_second": predict,
            "fit_mfu": fit / peak, "predict_mfu": predict / peak}


def _lengths(tokenized_rows) -> list[int]:
    return [len(ids) for ids in tokenized_rows["input_ids"]]


_PEAKS: dict[tuple, float] = {}  # the best matmul GFLOP/s this process has measured, per device, dtype and path


def matmul_peak(config, again: bool = True) -> float:
    """A large matmul's GFLOP/s on the run's device, in its dtype and matmul mode: the best this
    process has measured. A busy moment lowers one measurement, not the best of several; a run
    measures after predict (`again`), and before fit when the process has no measurement yet."""
    import tensorflow as tf

    from glue_repro.config import MATMUL_DTYPE

    device = "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"
    dtype, batched = MATMUL_DTYPE[config.recipe.precision], config.recipe.matmul_precision == "bfloat16"
    key = (device, dtype, batched)  # the bfloat16 matmul mode has its own path and rounding
    if again or key not in _PEAKS:
        _PEAKS[key] = max(_PEAKS.get(key, 0.0), matmul_peak_gflops(device, dtype=dtype, repeats=3, batched=batched))
    return _PEAKS[key]
