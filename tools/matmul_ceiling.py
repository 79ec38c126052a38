"""How fast one encoder layer's dense matmuls run alone, at a training step's shapes: the
ceiling a step's matmuls could reach, against a 2,048 x 2,048 matmul in the same process.

    python tools/matmul_ceiling.py [--rows 256,360,512,768] [--hidden 384] [--intermediate 1536]

Rows are batch x tokens (MRPC, batch 8: about 360). Each call runs the layer's six products
(query, key, value, attention output, feed-forward in and out) forward and both gradients,
back to back on hot caches; prints GFLOP/s and its share of the 2,048 peak (flops.py's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from glue_repro import runtime  # noqa: E402

runtime.prefer_onednn()
runtime.import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402

from glue_repro import flops  # noqa: E402


def layer_products(hidden: int, intermediate: int) -> list[tuple[int, int]]:
    """The (in, out) shapes of one encoder layer's dense kernels.

    >>> layer_products(4, 16)
    [(4, 4), (4, 4), (4, 4), (4, 4), (4, 16), (16, 4)]
    """
    return [(hidden, hidden)] * 4 + [(hidden, intermediate), (intermediate, hidden)]


def row_counts(text: str) -> list[int]:
    """`--rows`: comma-separated positive counts (argparse reports a ValueError in one line).

    >>> row_counts("256,360")
    [256, 360]
    """
    counts = [int(part) for part in text.split(",")]
    if min(counts) < 1:
        raise ValueError(text)
    return counts


def gflops_per_second(rows: int, shapes: list[tuple[int, int]], calls: int = 50) -> float:
    kernels = [tf.random.normal(s) * 0.05 for s in shapes]
    inputs = [tf.random.normal([rows, s[0]]) for s in shapes]
    upstream = [tf.random.normal([rows, s[1]]) for s in shapes]

    @tf.function
    def step():
        return [product for x, k, g in zip(inputs, kernels, upstream, strict=True)
                for product in (tf.matmul(x, k), tf.matmul(g, k, transpose_b=True), tf.matmul(x, g, transpose_a=True))]

    for _ in range(10):
        step()
    seconds = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(calls):
            step()
        seconds.append((time.perf_counter() - began) / calls)
    return 3 * sum(2 * rows * a * b for a, b in shapes) / statistics.median(seconds) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=row_counts, default="256,360,512,768",
                        help="comma-separated (default: %(default)s)")
    parser.add_argument("--hidden", type=int, default=384, help="(default: %(default)s, MiniLM's)")
    parser.add_argument("--intermediate", type=int, default=1536, help="(default: %(default)s)")
    args = parser.parse_args()
    peak = flops.matmul_peak_gflops()
    for rows in args.rows:
        rate = gflops_per_second(rows, layer_products(args.hidden, args.intermediate))
        print(f"rows {rows}: {rate:.0f} GFLOP/s, {rate / peak:.2f} of the 2,048 x 2,048 peak ({peak:.0f})")


if __name__ == "__main__":
    main()
