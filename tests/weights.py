"""Small built BERT classifiers for tests, and weights for kernel tests: models as initialised have
every bias at zero, which hides a kernel that drops its bias; these give each bias and layer-norm
offset a random value instead."""

import numpy as np


def randomize_biases(classifier, seed: int = 0, scale: float = 0.5) -> int:
    """Set every bias (and layer norm's beta) of the classifier to N(0, scale); returns how many."""
    rng = np.random.default_rng(seed)
    offsets = [v for v in classifier.weights if v.name.split("/")[-1].split(":")[0] in ("bias", "beta")]
    for v in offsets:
        v.assign(rng.normal(0.0, scale, v.shape).astype(v.dtype.as_numpy_dtype))
    return len(offsets)


def tiny_bert(**config):
    """A built 2-layer BERT classifier with hidden size 32 (transformers' defaults otherwise, dropout
    included); `config` sets any other BertConfig field."""
    from transformers import BertConfig, TFBertForSequenceClassification

    sizes = {"vocab_size": 60, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 40}
    classifier = TFBertForSequenceClassification(BertConfig(**sizes | config))
    classifier(classifier.dummy_inputs)
    return classifier
