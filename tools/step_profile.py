"""Where a training step's milliseconds go: TensorFlow's profiler over the steps of a later epoch,
summed per op type.

    GLUE_DIR=... python tools/step_profile.py [--preset minilm] [--train-rows 400] [--top 25] [--json]
        [--predict] [--inter-op-threads N]

Runs the suite's own path (run.prepare, Keras fit) for two epochs: the first traces every
padded shape; the second runs under the profiler (host tracer level 2: each TensorFlow op
as it executes). Prints the wall time per step, then per op type its time per step, its
share of all op time and its calls per step. Ops on TensorFlow's compute threads can
overlap, so op time can exceed the wall time; `--inter-op-threads 1` runs one op at a time.
`--predict` profiles a predict pass over the validation split instead (after two unprofiled
ones), per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from glue_repro import runtime  # noqa: E402

runtime.prefer_onednn()
runtime.import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from glue_repro.config import preset  # noqa: E402
from glue_repro.run import evaluate, prepare  # noqa: E402


def start_profiler(folder: str) -> None:
    """TensorFlow's profiler, recording each op as it executes (host tracer level 2)."""
    tf.profiler.experimental.start(folder, options=tf.profiler.experimental.ProfilerOptions(
        host_tracer_level=2, python_tracer_level=0, device_tracer_level=0))


class ProfileLastEpoch(tf_keras.callbacks.Callback):
    """The profiler on for the last epoch's steps only, and their wall time."""

    def __init__(self, folder: str, epochs: int):
        super().__init__()
        self.folder, self.last = folder, epochs - 1

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.last:
            start_profiler(self.folder)
            self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.last:
            self.seconds = time.perf_counter() - self.began
            tf.profiler.experimental.stop()


def op_times(folder: str) -> tuple[Counter, Counter]:
    """Total picoseconds and calls per op type over TensorFlow's compute threads, from the profiler's
    XSpace files: each executed op is an event named `scope/name:Type` on a `tf_Compute` line; an XLA
    executable (the compiled Adam update) is the executor's `CpuExecutable::ExecuteAsyncOnStream`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    picoseconds, calls = Counter(), Counter()
    for path in Path(folder).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):  # not tf.data's threads: they run beside the step
                    continue
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if name == "CpuExecutable::ExecuteAsyncOnStream":
                        kind = "XLA executable (Adam's update)"
                    elif ":" in name and "::" not in name:  # an op: "scope/name:Type"; "A::B" is the executor's own
                        kind = name.rpartition(":")[2]
                    else:
                        continue
                    picoseconds[kind] += event.duration_ps
                    calls[kind] += 1
    return picoseconds, calls


def profile_training(p, folder: str) -> tuple[int, float]:
    """Two epochs of fit, the second profiled: its steps and seconds."""
    repeating = p.inputs.fit_steps()  # a repeating train set says its epoch; another ends by itself
    steps = repeating or sum(1 for _ in p.inputs.train)
    profile = ProfileLastEpoch(folder, p.config.recipe.epochs)
    p.classifier.fit(p.inputs.train, epochs=p.config.recipe.epochs, verbose=0, callbacks=[profile],
                     steps_per_epoch=repeating)
    return steps, profile.seconds


def profile_predict(p, folder: str) -> tuple[int, float]:
    """Three predict passes over the validation split (the suite's own `evaluate`), the third
    profiled: its batches and seconds."""
    split = p.spec.validation_splits[0]
    for _ in range(2):
        evaluate(p, split)
    start_profiler(folder)
    began = time.perf_counter()
    evaluate(p, split)
    seconds = time.perf_counter() - began
    tf.profiler.experimental.stop()
    return sum(1 for _ in p.fed[split].validation), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--train-rows", type=int, default=400, help="rows per epoch (default: %(default)s)")
    parser.add_argument("--top", type=int, default=25, help="op types shown (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument("--predict", action="store_true", help="profile a predict pass over validation, not fit")
    parser.add_argument("--inter-op-threads", type=int, default=None,
                        help="TensorFlow's threads between ops (default: TensorFlow's, one per core)")
    args = parser.parse_args()
    if args.inter_op_threads is not None and args.inter_op_threads < 1:
        parser.error("--inter-op-threads must be >= 1")
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)  # before any op runs
    config = preset(args.preset).replace(train_rows=args.train_rows, epochs=2, seed=42)
    p = prepare(config, os.environ.get("GLUE_DIR"))
    folder = tempfile.mkdtemp(prefix="step-profile-")
    steps, seconds = (profile_predict if args.predict else profile_training)(p, folder)
    picoseconds, calls = op_times(folder)
    shutil.rmtree(folder)
    total = sum(picoseconds.values())
    rows = [{"op": kind, "ms_per_step": ps / 1e9 / steps, "share": ps / total, "calls_per_step": calls[kind] / steps}
            for kind, ps in picoseconds.most_common()]
    summary = {"preset": args.preset, "phase": "predict" if args.predict else "fit", "train_rows": args.train_rows,
               "steps": steps, "wall_ms_per_step": seconds * 1000 / steps, "op_ms_per_step": total / 1e9 / steps,
               "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or None,
               "config": config.to_dict(), "ops": rows}
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    batch = config.eval_batch_size if args.predict else config.recipe.batch_size
    print(f"{args.preset}, {summary['phase']}, {steps} steps of batch {batch}: wall "
          f"{summary['wall_ms_per_step']:.1f} ms a step, op time {summary['op_ms_per_step']:.1f} ms a step")
    print(f"{'op type':<32} {'ms/step':>9} {'share':>7} {'calls/step':>11}")
    for row in rows[:args.top]:
        print(f"{row['op']:<32} {row['ms_per_step']:>9.2f} {row['share']:>7.1%} {row['calls_per_step']:>11.1f}")


if __name__ == "__main__":
    main()
