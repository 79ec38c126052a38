"""The GLUE metric as an `evaluate` module that loads offline: `evaluate.load(<this folder>, config)`.

It returns what the Hub's `evaluate.load("glue", config)` returns, computed by the suite's own
metric functions (`glue_repro.metric`), so the suite has one implementation of each metric.
"""

import datasets
import evaluate

from glue_repro import metric
from glue_repro.tasks import TASKS

_DESCRIPTION = "GLUE: accuracy, F1, Matthews correlation, Pearson and Spearman correlation, per task."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels, or scores for stsb.
    references: gold labels, or scores for stsb.
Returns:
    per config, as `evaluate`'s glue metric: accuracy (and f1 for mrpc, qqp),
    matthews_correlation (cola), pearson and spearmanr (stsb).
Example:
    evaluate.load(<path of this folder>, "mrpc").compute(predictions=[0, 1], references=[0, 1])
    gives {'accuracy': 1.0, 'f1': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in metric.GLUE_CONFIGS:
            raise KeyError(f"unknown GLUE config {self.config_name!r}; known: {', '.join(metric.GLUE_CONFIGS)}")
        regression = self.config_name in TASKS and TASKS[self.config_name].is_regression
        value = datasets.Value("float32" if regression else "int64")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Wang et al., GLUE (2018).",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": value, "references": value}),
            format="numpy",
        )

    def _compute(self, predictions, references):
        return metric.glue(self.config_name, predictions, references)
