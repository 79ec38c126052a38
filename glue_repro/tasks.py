"""The GLUE tasks as data: one frozen spec per task, in one table.

Everything that depends on the task (which columns to read and tokenize, the labels, the
loss, the metric, what a collapsed run looks like, the local files) is read from its row,
so adding a task adds a row here and nothing elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glue_repro.errors import GlueReproError

COURSE_TASK = "mrpc"  # the course's task: the default wherever a task is not given
GLUE_SPLITS = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}
MNLI_FILES = {"train": "train.tsv", "validation_matched": "dev_matched.tsv",
              "validation_mismatched": "dev_mismatched.tsv", "test_matched": "test_matched.tsv",
              "test_mismatched": "test_mismatched.tsv"}


@dataclass(frozen=True)
class LocalFiles:
    """How a task's files lie in a local GLUE folder (the layout of GLUE's own download)."""

    folder: str  # sub-folder of the GLUE folder, e.g. "SST-2"
    files: dict[str, str] = field(default_factory=lambda: dict(GLUE_SPLITS))  # split -> file name
    columns: dict[str, str] = field(default_factory=dict)  # Hub column -> header name, where they differ
    label: str = "label"  # header name of the label column
    msr: bool = False  # MRPC: the raw MSR files the Hub reads are tried before the tsv files
    # Files without a header row (CoLA's train and dev): Hub column, or "label", -> field position.
    headerless: tuple[str, ...] = ()  # splits whose file has no header
    positions: dict[str, int] = field(default_factory=dict)
    # The Hub's builder drops a row that lacks a field it reads, or whose label is empty ("corrupted
    # rows", QQP's among them), and still counts it in `idx`; elsewhere such a row is an error.
    drops_incomplete_rows: bool = False

    def header(self, column: str) -> str:
        """The header name of a Hub column (or of "label") in the task's files."""
        return self.label if column == "label" else self.columns.get(column, column)


@dataclass(frozen=True)
class Reference:
    """Published validation scores to hold runs against."""

    source: str  # who measured them, how
    scores: dict[str, float]  # metric -> value


# transformers' examples/pytorch/text-classification README: run_glue.py, bert-base-cased, 3 epochs
RUN_GLUE = "run_glue, bert-base-cased"


@dataclass(frozen=True)
class TaskSpec:
    """One GLUE task, as the Hub's `nyu-mll/glue` builder and `evaluate`'s glue metric define it."""

    name: str  # the suite's name, also the Hub config (`load_dataset("nyu-mll/glue", name)`) and the metric's
    text_columns: tuple[str, ...]  # one column: single sentences; two: pairs
    label_names: tuple[str, ...] | None  # ClassLabel names in the Hub's order; None = regression
    metrics: tuple[str, ...] = ("accuracy",)  # what `evaluate.load("glue", name)` returns, in its order; the
    # first is the headline figure (the gate and lr-decay read it first)
    validation_splits: tuple[str, ...] = ("validation",)  # the first is validated on during fit
    local: LocalFiles | None = None  # None: only on the Hub
    references: tuple[Reference, ...] = ()  # published scores, drawn in the report
    # lr-decay's defaults: the primary metric a healthy short run reaches (a collapsed one does
    # not), and a validation loss to reach (None: not measured).
    lr_decay_target: float = 0.70
    lr_decay_loss_target: float | None = None

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        """Outputs of the classifier head: one score for regression, one logit per class."""
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def pair(self) -> bool:
        return len(self.text_columns) == 2


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), metrics=("accuracy", "f1"),
            local=LocalFiles("MRPC", columns={"sentence1": "#1 String", "sentence2": "#2 String"}, label="Quality",
                             msr=True),
            references=(Reference("the course's one bert-base-uncased run (GPU)", {"accuracy": 0.8578, "f1": 0.8997}),
                        Reference(RUN_GLUE, {"accuracy": 0.8407, "f1": 0.8885})),
            lr_decay_target=0.70, lr_decay_loss_target=0.60,
        ),
        TaskSpec("sst2", ("sentence",), ("negative", "positive"), local=LocalFiles("SST-2"), lr_decay_target=0.80,
                 references=(Reference(RUN_GLUE, {"accuracy": 0.9232}),)),
        TaskSpec(
            "cola", ("sentence",), ("unacceptable", "acceptable"), metrics=("matthews_correlation",),
            local=LocalFiles("CoLA", headerless=("train", "validation"), positions={"sentence": 3, "label": 1}),
            lr_decay_target=0.20, references=(Reference(RUN_GLUE, {"matthews_correlation": 0.5653}),),
        ),
        TaskSpec("stsb", ("sentence1", "sentence2"), None, metrics=("pearson", "spearmanr"),
                 local=LocalFiles("STS-B", label="score"), lr_decay_target=0.70,
                 references=(Reference(RUN_GLUE, {"pearson": 0.8864, "spearmanr": 0.8848}),)),
        TaskSpec("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), local=LocalFiles("RTE"),
                 lr_decay_target=0.55, references=(Reference(RUN_GLUE, {"accuracy": 0.6570}),)),
        TaskSpec("wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"), local=LocalFiles("WNLI"),
                 lr_decay_target=0.57, references=(Reference(RUN_GLUE, {"accuracy": 0.5634}),)),
        TaskSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), metrics=("accuracy", "f1"),
                 local=LocalFiles("QQP", label="is_duplicate", drops_incomplete_rows=True), lr_decay_target=0.75,
                 references=(Reference(RUN_GLUE, {"accuracy": 0.9071, "f1": 0.8749}),)),
        TaskSpec("qnli", ("question", "sentence"), ("entailment", "not_entailment"),
                 local=LocalFiles("QNLI", drops_incomplete_rows=True), lr_decay_target=0.60,
                 references=(Reference(RUN_GLUE, {"accuracy": 0.9066}),)),
        TaskSpec("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"),
                 validation_splits=("validation_matched", "validation_mismatched"), lr_decay_target=0.50,
                 local=LocalFiles("MNLI", files=MNLI_FILES, columns={"premise": "sentence1", "hypothesis": "sentence2"},
                                  label="gold_label", drops_incomplete_rows=True)),
    )
}


def task(name: str) -> TaskSpec:
    """The named task's spec, or a GlueReproError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise GlueReproError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
