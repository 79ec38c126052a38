"""One encoder layer's query, key and value projections, forward and backward: three 384 x 384
matmuls against one 384 x 1,152 matmul of the concatenated kernels (a candidate lever of issue 33).

    ROWS=360 python tools/fused_qkv_bench.py     # rows = batch x tokens (8 x 45 for MRPC)

Prints the largest gradient difference and the median time of each over 200 calls, twice.
"""

import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from glue_repro import runtime  # noqa: E402

runtime.prefer_onednn()
runtime.import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402

ROWS, HIDDEN = int(os.environ.get("ROWS", 360)), 384
x = tf.random.normal([ROWS, HIDDEN])
kernels = [tf.Variable(tf.random.normal([HIDDEN, HIDDEN]) * 0.05) for _ in range(3)]
biases = [tf.Variable(tf.zeros([HIDDEN])) for _ in range(3)]
upstream = [tf.random.normal([ROWS, HIDDEN]) for _ in range(3)]  # the gradients arriving from above


def _gradients(project):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.add_n([tf.reduce_sum(o * g) for o, g in zip(project(x), upstream, strict=True)])
    return tape.gradient(loss, [x, *kernels, *biases])


separate = tf.function(lambda: _gradients(
    lambda x: [tf.nn.bias_add(tf.matmul(x, k), b) for k, b in zip(kernels, biases, strict=True)]))
fused = tf.function(lambda: _gradients(
    lambda x: tf.split(tf.nn.bias_add(tf.matmul(x, tf.concat(kernels, 1)), tf.concat(biases, 0)), 3, axis=1)))


def median_ms(step, calls=200) -> float:
    for _ in range(20):
        [t.numpy() for t in step()]
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        [t.numpy() for t in step()]  # every gradient done
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    print("largest gradient difference", max(float(tf.reduce_max(tf.abs(a - b)))
                                             for a, b in zip(separate(), fused(), strict=True)))
    for _ in range(2):
        print(f"rows {ROWS}: separate {median_ms(separate):.3f} ms, fused {median_ms(fused):.3f} ms")
