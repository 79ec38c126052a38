"""The GLUE tasks as data: one frozen spec per task, in one table.

Everything that depends on the task (which columns to read and tokenize, the labels, the
loss, the metric, what a collapsed run looks like, the local files) is read from its row,
so adding a task adds a row here and nothing elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glue_repro.errors import GlueReproError

GLUE_SPLITS = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


@dataclass(frozen=True)
class LocalFiles:
    """How a task's files lie in a local GLUE folder (the layout of GLUE's own download)."""

    folder: str  # sub-folder of the GLUE folder, e.g. "SST-2"
    files: dict[str, str] = field(default_factory=lambda: dict(GLUE_SPLITS))  # split -> file name
    columns: dict[str, str] = field(default_factory=dict)  # Hub column -> header name in the file
    label: str = "label"  # header name of the label column
    msr: bool = False  # MRPC: the raw MSR files the Hub reads are tried before the tsv files
    # Files without a header row (CoLA's train and dev): Hub column, or "label", -> field position.
    headerless: tuple[str, ...] = ()  # splits whose file has no header
    positions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    """One GLUE task, as the Hub's `nyu-mll/glue` builder and `evaluate`'s glue metric define it."""

    name: str  # the suite's name, also the Hub config (`load_dataset("nyu-mll/glue", name)`)
    text_columns: tuple[str, ...]  # one column: single sentences; two: pairs
    label_names: tuple[str, ...] | None  # ClassLabel names in the Hub's order; None = regression
    validation_splits: tuple[str, ...]  # the first is validated on during fit
    metric_config: str  # `evaluate.load("glue", metric_config)`
    metrics: tuple[str, ...]  # what that metric returns, in its order
    primary_metric: str  # the headline figure: what the gate and lr-decay read first
    local: LocalFiles | None  # None: only on the Hub
    # lr-decay's defaults: the primary metric a healthy short run reaches (a collapsed one does
    # not), and a validation loss to reach (None: not measured).
    lr_decay_target: float = 0.70
    lr_decay_loss_target: float | None = None

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


# Runs only at import, before mutmut switches a mutant on, so no test could see a mutant here
# (tests/test_data.py checks every task's columns and files): left out of mutation testing.
def _pair(first: str, second: str, label_names, folder: str, **more) -> dict:  # pragma: no mutate block
    return {"text_columns": (first, second), "label_names": label_names,
            "local": None if folder is None else LocalFiles(folder, columns={first: first, second: second}, **more)}


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "mrpc", text_columns=("sentence1", "sentence2"), label_names=("not_equivalent", "equivalent"),
            validation_splits=("validation",), metric_config="mrpc", metrics=("accuracy", "f1"),
            primary_metric="accuracy",
            local=LocalFiles("MRPC", columns={"sentence1": "#1 String", "sentence2": "#2 String"}, label="Quality",
                             msr=True),
            lr_decay_target=0.70, lr_decay_loss_target=0.60,
        ),
        TaskSpec(
            "sst2", text_columns=("sentence",), label_names=("negative", "positive"),
            validation_splits=("validation",), metric_config="sst2", metrics=("accuracy",),
            primary_metric="accuracy", local=LocalFiles("SST-2", columns={"sentence": "sentence"}),
            lr_decay_target=0.80,
        ),
        TaskSpec(
            "cola", text_columns=("sentence",), label_names=("unacceptable", "acceptable"),
            validation_splits=("validation",), metric_config="cola", metrics=("matthews_correlation",),
            primary_metric="matthews_correlation",
            local=LocalFiles("CoLA", columns={"sentence": "sentence"}, headerless=("train", "validation"),
                             positions={"sentence": 3, "label": 1}),
            lr_decay_target=0.20,
        ),
        TaskSpec(
            "stsb", validation_splits=("validation",), metric_config="stsb", metrics=("pearson", "spearmanr"),
            primary_metric="pearson", lr_decay_target=0.70,
            **_pair("sentence1", "sentence2", None, "STS-B", label="score"),
        ),
        TaskSpec(
            "rte", validation_splits=("validation",), metric_config="rte", metrics=("accuracy",),
            primary_metric="accuracy", lr_decay_target=0.55,
            **_pair("sentence1", "sentence2", ("entailment", "not_entailment"), "RTE"),
        ),
        TaskSpec(
            "wnli", validation_splits=("validation",), metric_config="wnli", metrics=("accuracy",),
            primary_metric="accuracy", lr_decay_target=0.57,
            **_pair("sentence1", "sentence2", ("not_entailment", "entailment"), "WNLI"),
        ),
        TaskSpec(
            "qqp", validation_splits=("validation",), metric_config="qqp", metrics=("accuracy", "f1"),
            primary_metric="accuracy", lr_decay_target=0.75,
            **_pair("question1", "question2", ("not_duplicate", "duplicate"), None),
        ),
        TaskSpec(
            "qnli", validation_splits=("validation",), metric_config="qnli", metrics=("accuracy",),
            primary_metric="accuracy", lr_decay_target=0.60,
            **_pair("question", "sentence", ("entailment", "not_entailment"), None),
        ),
        TaskSpec(
            "mnli", validation_splits=("validation_matched", "validation_mismatched"), metric_config="mnli",
            metrics=("accuracy",), primary_metric="accuracy", lr_decay_target=0.50,
            **_pair("premise", "hypothesis", ("entailment", "neutral", "contradiction"), None),
        ),
    )
}


def task(name: str) -> TaskSpec:
    """The named task's spec, or a GlueReproError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise GlueReproError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
