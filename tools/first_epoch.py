"""Where a quick run's time goes: set-up, each training step, each validation pass.

    GLUE_DIR=... python tools/first_epoch.py [--preset minilm] [--train-rows 1000] [--epochs 2] [--no-xla-optimizer]

Runs the suite's own path (run.prepare, train.fit) and times every training step with the
padded length of its batch. A step whose shape is new pays for tracing the train step and for
oneDNN's primitives of that shape; the report splits the first epoch into set-up, steady steps,
the extra time of first-seen shapes, and the validation pass (the first one traces predict).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from glue_repro import runtime  # noqa: E402

runtime.prefer_onednn()
runtime.import_tensorflow_quietly()

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from glue_repro import train  # noqa: E402
from glue_repro.config import preset  # noqa: E402
from glue_repro.run import evaluate, prepare  # noqa: E402


class StepTimes(tf_keras.callbacks.Callback):
    """Wall time of every training step, in order."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_begin(self, batch, logs=None):
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(time.perf_counter() - self.began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minilm")
    parser.add_argument("--train-rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-xla-optimizer", action="store_true", help="Adam's update without XLA")
    args = parser.parse_args()
    config = preset(args.preset).replace(train_rows=args.train_rows, epochs=args.epochs, seed=42,
                                         xla_optimizer=not args.no_xla_optimizer)

    start = time.perf_counter()
    p = prepare(config, os.environ.get("GLUE_DIR"))
    setup_seconds = time.perf_counter() - start
    widths = [int(x["input_ids"].shape[1]) for x, _ in p.inputs.train]  # one pass: the order differs per epoch
    steps = StepTimes()
    validation = train.PredictValidation(lambda: evaluate(p, p.spec.validation_splits[0]).scores)
    timer = train.EpochTimer()
    p.classifier.fit(p.inputs.train, epochs=args.epochs, verbose=0, callbacks=[steps, validation, timer])

    per_epoch = len(widths)
    first, later = np.array(steps.steps[:per_epoch]), np.array(steps.steps[per_epoch:])
    steady = float(np.median(later)) if len(later) else float(np.median(first))
    shapes = sorted(set(widths))
    print(json.dumps({
        "preset": args.preset, "train_rows": args.train_rows, "steps_per_epoch": per_epoch,
        "xla_optimizer": config.speed.xla_optimizer,
        "padded_lengths": shapes,
        "setup_seconds": setup_seconds,
        "epoch_seconds": timer.seconds,
        "first_epoch_steps_seconds": float(first.sum()),
        "first_epoch_steady_estimate_seconds": steady * per_epoch,
        "first_epoch_extra_step_seconds": float(first.sum() - steady * per_epoch),
        "slowest_first_epoch_steps": sorted((round(t, 2) for t in first), reverse=True)[: len(shapes) + 2],
        # an epoch's time beyond its steps: the validation pass (the first one traces predict)
        "validation_seconds": [
            timer.seconds[e] - float(np.sum(steps.steps[e * per_epoch:(e + 1) * per_epoch]))
            for e in range(args.epochs)
        ],
        "later_epoch_steps_seconds": float(later.sum()) / max(args.epochs - 1, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
