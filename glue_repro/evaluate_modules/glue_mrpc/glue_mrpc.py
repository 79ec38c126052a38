"""The GLUE MRPC metric (accuracy and F1) as an `evaluate` module that loads offline.

It computes what the Hub's `evaluate.load("glue", "mrpc")` computes: accuracy as the mean
of exact matches and F1 from scikit-learn, both as Python floats.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import f1_score

_DESCRIPTION = "GLUE MRPC: accuracy and F1 of binary paraphrase predictions."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (0 = not_equivalent, 1 = equivalent).
    references: gold labels.
Returns:
    accuracy: fraction of predictions equal to the references.
    f1: F1 score of the positive class (equivalent).
Example:
    evaluate.load(<path of this folder>).compute(predictions=[0, 1], references=[0, 1])
    gives {'accuracy': 1.0, 'f1': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GlueMrpc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Wang et al., GLUE (2018); Dolan and Brockett, MRPC (2005).",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            format="numpy",
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        return {
            "accuracy": float((predictions == references).mean()),
            "f1": float(f1_score(y_true=references, y_pred=predictions)),
        }
