"""Weights for kernel tests: models as initialised have every bias at zero, which hides a kernel
that drops its bias; these give each bias and layer-norm offset a random value instead."""

import numpy as np


def randomize_biases(classifier, seed: int = 0, scale: float = 0.5) -> int:
    """Set every bias (and layer norm's beta) of the classifier to N(0, scale); returns how many."""
    rng = np.random.default_rng(seed)
    offsets = [v for v in classifier.weights if v.name.split("/")[-1].split(":")[0] in ("bias", "beta")]
    for v in offsets:
        v.assign(rng.normal(0.0, scale, v.shape).astype(v.dtype.as_numpy_dtype))
    return len(offsets)
