"""Compile, fit and predict: XLA switches, determinism, the schedule as compiled, tracing."""

import numpy as np
import pytest

from glue_repro import inputs, model
from glue_repro.tasks import TASKS

MRPC = TASKS["mrpc"]


def test_xla_predict_gives_the_same_logits_and_leaves_training_uncompiled(small_pairs):
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    fast = inputs.eval_dataset(tokenized["validation"], inputs.model_columns(tokenizer), batch_size=4)
    logits = {}
    for xla_predict in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny", vocab_size=len(tokenizer))
        train.compile_model(classifier, TINY_PRESET.replace(xla_predict=xla_predict), MRPC, steps_per_epoch=4)
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
    train.compile_model(classifier, deterministic, MRPC, steps_per_epoch=4)
    assert not classifier.optimizer.jit_compile


@pytest.mark.costly
def test_xla_optimizer_makes_the_same_updates(small_pairs):
    """The fused Adam update moves every weight as the plain one does."""
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    data = inputs.train_dataset(tokenized["train"], inputs.model_columns(tokenizer), 4, tokenizer.pad_token_id)
    x, y = next(iter(data.dataset))
    weights = {}
    for fused in (False, True):
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny", vocab_size=len(tokenizer))
        train.compile_model(classifier, TINY_PRESET.replace(xla_optimizer=fused), MRPC, steps_per_epoch=4)
        assert classifier.optimizer.jit_compile is fused
        initial = [v.numpy() for v in classifier.trainable_variables]
        for _ in range(3):  # same seed and batch: only the update's compilation differs
            classifier.train_on_batch(x, y)
        weights[fused] = [v.numpy() for v in classifier.trainable_variables]
    for a, b in zip(weights[False], weights[True], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    moved = sum(not np.array_equal(a, b) for a, b in zip(initial, weights[True], strict=True))
    assert moved > len(initial) // 2  # it trained


def test_the_compiled_optimizer_decays_over_every_epochs_steps():
    """What the built model's optimizer got: 5e-5 at step 0, zero only after all epochs' steps."""
    from glue_repro import model, train
    from glue_repro.config import TINY_PRESET

    classifier = model.build_model("tiny")
    train.compile_model(classifier, TINY_PRESET.replace(epochs=3), MRPC, steps_per_epoch=5)
    import tf_keras

    rate = tf_keras.optimizers.schedules.deserialize(classifier.optimizer.get_config()["learning_rate"])
    assert float(rate(0)) == pytest.approx(5e-5, rel=1e-6)
    assert float(rate(10)) == pytest.approx(5e-5 / 3, rel=1e-5)  # two thirds of the way
    assert float(rate(14)) > 0.0 and float(rate(15)) == 0.0


@pytest.mark.parametrize("fused", [True, False])
def test_a_run_fuses_the_feed_forward_blocks_only_when_its_speed_says_so(fused):
    from glue_repro.config import TINY_PRESET
    from glue_repro.tasks import task
    from glue_repro.train import build

    tokenizer = model.load_tokenizer("tiny")
    classifier = build(TINY_PRESET.replace(fused_gelu=fused), task("mrpc"), tokenizer, steps_per_epoch=2)
    calls = {layer.intermediate.call.__qualname__ for layer in classifier.bert.encoder.layer}
    assert len(calls) == 1 and ("_on_rows_in_inference" in calls.pop()) is fused


def _compiled_tiny(pairs):
    """The tiny classifier compiled as a run compiles it (seed 0), with its bucketed train and validation data."""
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(pairs, tokenizer, MRPC, max_length=32)
    columns = inputs.model_columns(tokenizer)
    tf_keras.utils.set_random_seed(0)
    fed = inputs.train_dataset(tokenized["train"], columns, batch_size=4)
    validation = inputs.eval_dataset(tokenized["validation"], columns, batch_size=4)
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    train.compile_model(classifier, TINY_PRESET, MRPC, steps_per_epoch=fed.steps)
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


# What users rely on, as properties: the schedule spans the steps fit takes, the head has the
# task's width, predict runs without dropout.


@pytest.mark.parametrize("pipeline", ["course", "bucketed"])
def test_the_schedule_spans_exactly_the_steps_fit_takes_and_ends_at_its_end_rate(small_pairs, pipeline):
    """13 rows at batch 8: the last, short batch is a step too; the rate reaches its end on the last one."""
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    config = TINY_PRESET.replace(epochs=2, input_pipeline=pipeline, max_length=32, end_learning_rate=1e-6)
    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    fed = inputs.tf_datasets(config, tokenized, tokenizer, "validation")
    tf_keras.utils.set_random_seed(0)
    classifier = train.build(config, MRPC, tokenizer, fed.steps_per_epoch)
    one_pass = fed.train.take(fed.fit_steps()) if fed.fit_steps() else fed.train  # the course's repeats
    batches = [len(y) for _, y in one_pass]
    assert sum(batches) == 13 and min(batches) < 8  # one pass: every row, a short batch among them
    train.fit(classifier, fed.train, fed.validation, 2, verbose=0, steps_per_epoch=fed.fit_steps())
    steps = int(classifier.optimizer.iterations)
    assert steps == 2 * len(batches)
    rate = tf_keras.optimizers.schedules.deserialize(classifier.optimizer.get_config()["learning_rate"])
    assert rate.decay_steps == steps
    assert float(rate(steps - 1)) > 1e-6 and float(rate(steps)) == pytest.approx(1e-6, rel=1e-6)


@pytest.mark.parametrize("name", ["mrpc", "mnli", "stsb"])
def test_the_built_model_has_one_output_per_label_of_its_task(name):
    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    spec = TASKS[name]
    tokenizer = model.load_tokenizer("tiny")
    classifier = train.build(TINY_PRESET.replace(task=name), spec, tokenizer, steps_per_epoch=2)
    width = {"mrpc": 2, "mnli": 3, "stsb": 1}[name]  # GLUE's classes; one score for regression
    assert spec.num_labels == width
    assert classifier(classifier.dummy_inputs).logits.shape[-1] == width


def test_predict_runs_in_inference_mode_even_where_dropout_is_high():
    import tensorflow as tf
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET
    from tests.weights import tiny_bert

    tf_keras.utils.set_random_seed(0)
    classifier = tiny_bert(initializer_range=0.2, hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5)
    train.compile_model(classifier, TINY_PRESET, MRPC, steps_per_epoch=2)
    ids = np.random.default_rng(0).integers(5, 60, (6, 9)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices(({"input_ids": ids}, np.zeros(6, "int32"))).batch(4)
    first, second = (train.predict_logits(classifier, dataset, verbose=0) for _ in range(2))
    reference = classifier({"input_ids": ids}, training=False).logits.numpy()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, reference, atol=1e-5)
    np.testing.assert_allclose(train._predict_locally(classifier, dataset), reference, atol=1e-5)  # multi-worker
    dropped = classifier({"input_ids": ids}, training=True).logits.numpy()
    assert np.abs(dropped - reference).max() > 1e-2  # the dropout is real: training would differ


def test_batch_loss_is_the_latest_batchs_own_loss_not_a_running_mean():
    import tensorflow as tf
    import tf_keras

    from glue_repro.train import BatchLoss

    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metric = BatchLoss(loss)
    assert float(metric.result()) == 0.0  # before any batch
    first, second = (tf.constant(x, tf.float32) for x in ([[2.0, -1.0], [0.5, 0.5]], [[0.0, 3.0]]))
    metric.update_state(tf.constant([0, 1]), first, sample_weight=tf.constant([0.0, 1.0]))  # as Keras weighs it
    assert float(metric.result()) == pytest.approx(float(loss([0, 1], first, [0.0, 1.0])))
    metric.update_state(tf.constant([0, 1]), first)
    assert float(metric.result()) == pytest.approx(float(loss([0, 1], first)))
    metric.update_state(tf.constant([0]), second)  # one row: a mean over both batches would weight it 1/3
    assert float(metric.result()) == pytest.approx(float(loss([0], second))) and float(metric.result()) > 3
    metric.reset_state()
    assert float(metric.result()) == 0.0 and metric.name == "batch_loss"


def test_each_worker_predicts_every_row_itself_as_keras_predict_would(tiny, small_pairs, monkeypatch):
    """The multi-worker path (no sharding between workers), on one process: the same logits, rows and order,
    and predict_logits takes it under MultiWorkerMirroredStrategy (stood in here by the default strategy's type)."""
    import tensorflow as tf

    from glue_repro import train

    tokenizer, classifier = tiny
    tokenized = inputs.tokenize(small_pairs, tokenizer, TASKS["mrpc"], 32)
    rows = inputs.eval_dataset(tokenized["validation"], inputs.model_columns(tokenizer), 4, tokenizer.pad_token_id)
    local = train._predict_locally(classifier, rows.dataset)
    assert local.dtype == np.float32 and local.shape == (len(tokenized["validation"]), 2)
    np.testing.assert_allclose(local, train.predict_logits(classifier, rows.dataset, verbose=0), atol=1e-6)
    traced = classifier._local_forward
    np.testing.assert_array_equal(train._predict_locally(classifier, rows.dataset), local)
    assert classifier._local_forward is traced  # traced once per model, reused
    monkeypatch.delattr(classifier, "_local_forward")
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", type(classifier.distribute_strategy))
    np.testing.assert_array_equal(train.predict_logits(classifier, rows.dataset, verbose=0), local)
    assert hasattr(classifier, "_local_forward")  # the local path ran


def test_the_epoch_timer_times_each_epoch_and_keeps_the_first_one_run():
    import time

    from glue_repro.train import EpochTimer

    timer = EpochTimer()
    timer.on_train_begin()
    for epoch in (2, 3):  # resumed from a backup after epochs 0 and 1
        timer.on_epoch_begin(epoch)
        time.sleep(0.01)
        timer.on_epoch_end(epoch)
    assert timer.first == 2 and len(timer.seconds) == 2 and 0.01 <= min(timer.seconds) <= max(timer.seconds) < 5
    timer.on_train_begin()  # a new fit starts afresh
    timer.on_epoch_begin(0)
    assert timer.first == 0 and timer.seconds == []


def test_fit_validates_each_epoch_and_resumes_from_its_backup_after_a_stop(small_pairs, tmp_path):
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    class StopAfterFirstEpoch(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # the process stopped: BackupAndRestore has saved epoch 0

    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, MRPC, max_length=32)
    columns = inputs.model_columns(tokenizer)
    data = inputs.train_dataset(tokenized["train"], columns, 8, tokenizer.pad_token_id).dataset
    validation = inputs.eval_dataset(tokenized["validation"], columns, 8, tokenizer.pad_token_id).dataset
    tf_keras.utils.set_random_seed(0)
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    train.compile_model(classifier, TINY_PRESET, MRPC, steps_per_epoch=2)
    stopped = classifier.fit
    classifier.fit = lambda *args, callbacks, **kwargs: stopped(*args, callbacks=[*callbacks, StopAfterFirstEpoch()],
                                                               **kwargs)
    with pytest.raises(KeyboardInterrupt):
        train.fit(classifier, data, validation, epochs=2, verbose=0, backup_dir=tmp_path / "backup")
    classifier.fit = stopped
    history, timer = train.fit(classifier, data, validation, epochs=2, verbose=0, backup_dir=tmp_path / "backup")
    assert timer.first == 1 and len(timer.seconds) == 1  # epoch 1 ran; epoch 0 came from the backup
    assert len(history["loss"]) == len(history["val_loss"]) == 1  # Keras validated the epoch it ran


def test_build_hands_the_model_its_options_and_applies_each_speed_and_precision_choice(monkeypatch):
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET
    from glue_repro.errors import GlueReproError

    tokenizer, asked = model.load_tokenizer("tiny"), []
    monkeypatch.setattr(train, "build_model", lambda *a, **kw: asked.append((a, kw)) or model.build_model(*a, **kw))
    plain = train.build(TINY_PRESET.replace(revision="abc123"), MRPC, tokenizer, steps_per_epoch=2)
    assert asked == [(("tiny",), {"num_labels": 2, "vocab_size": len(tokenizer), "revision": "abc123"})]
    def metrics(classifier):
        return [getattr(m, "name", m) for m in classifier.compiled_metrics._user_metrics]

    assert metrics(plain) == ["accuracy"]
    with_loss = train.build(TINY_PRESET, MRPC, tokenizer, steps_per_epoch=2, batch_loss=True)
    assert metrics(with_loss) == ["accuracy", "batch_loss"]
    dense = [m for m in plain.submodules if isinstance(m, tf_keras.layers.Dense)]
    assert not any("call" in vars(m) for m in dense)  # Keras' own Dense path in float32 matmul mode
    routed = train.build(TINY_PRESET.replace(matmul_precision="bfloat16"), MRPC, tokenizer, steps_per_epoch=2)
    assert all("call" in vars(m) for m in routed.submodules if isinstance(m, tf_keras.layers.Dense))
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = train.build(TINY_PRESET.replace(precision="mixed_bfloat16"), MRPC, tokenizer, steps_per_epoch=2)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert mixed.classifier.dtype_policy.name == "float32" and mixed.bert.dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(GlueReproError, match=r"^config field max_length=129: above the 128 positions model 'tiny'"):
        train.build(TINY_PRESET.replace(max_length=129), MRPC, tokenizer, steps_per_epoch=2)


def test_the_cls_only_option_on_a_model_without_a_bert_encoder_is_one_line(monkeypatch):
    from glue_repro import train
    from glue_repro.config import TINY_PRESET
    from glue_repro.errors import GlueReproError
    from tests.test_fused_gelu import _tiny_mpnet

    monkeypatch.setattr(train, "build_model", lambda *a, **kw: _tiny_mpnet())
    with pytest.raises(GlueReproError) as err:
        train.build(TINY_PRESET.replace(cls_only_last_layer=True, max_length=32), MRPC, model.load_tokenizer("tiny"), 2)
    assert str(err.value) == ("config field cls_only_last_layer=True: model 'tiny' has no BERT-style encoder to cut; "
                              "turn it off")


def test_the_loss_is_cross_entropy_on_logits_and_squared_error_for_regression():
    """The course's loss reads the model's raw logits (from_logits=True): the mean of -log softmax of the
    true class; STS-B's is the mean squared error of its one output."""
    from glue_repro.train import loss_and_metrics

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 3)) * 3, rng.integers(0, 3, 6)
    loss, metrics = loss_and_metrics(TASKS["mnli"])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert float(loss(labels, logits)) == pytest.approx(-log_softmax[np.arange(6), labels].mean(), rel=1e-5)
    assert metrics == ["accuracy"]
    scores, outputs = rng.uniform(0, 5, 6), rng.uniform(0, 5, (6, 1))
    loss, metrics = loss_and_metrics(TASKS["stsb"])
    assert float(loss(scores[:, None], outputs)) == pytest.approx(((outputs[:, 0] - scores) ** 2).mean(), rel=1e-5)
    assert metrics == []


@pytest.mark.parametrize("scored", [True, False])
def test_fit_hands_keras_its_epochs_steps_and_validation(scored, tmp_path):
    """With a score, validation is predict's (its metrics in the history) and Keras gets no validation
    data; without, Keras validates. Epochs, steps, verbosity and the backup folder reach Keras as given."""
    import tf_keras

    from glue_repro import train

    asked = {}

    class Model:
        def fit(self, data, validation_data, epochs, callbacks, verbose, steps_per_epoch):
            asked.update(data=data, validation_data=validation_data, epochs=epochs, verbose=verbose,
                         steps_per_epoch=steps_per_epoch, callbacks=callbacks)
            history = {}
            for cb in callbacks[1:]:  # BackupAndRestore needs a real model: the others run as Keras runs them
                cb.on_train_begin()
            for epoch in range(epochs):
                logs = {"loss": 1.0 / (epoch + 1)}
                for cb in callbacks[1:]:
                    cb.on_epoch_begin(epoch)
                for cb in callbacks[1:]:
                    cb.on_epoch_end(epoch, logs)
                for key, value in logs.items():
                    history.setdefault(key, []).append(value)
            return type("History", (), {"history": history})()

    scores = iter([{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}])
    history, timer = train.fit(Model(), "train", "validation", 2, verbose=2, score=(lambda: next(scores)) if scored
                               else None, backup_dir=tmp_path, steps_per_epoch=7)
    assert (asked["data"], asked["epochs"], asked["verbose"], asked["steps_per_epoch"]) == ("train", 2, 2, 7)
    assert isinstance(asked["callbacks"][0], tf_keras.callbacks.BackupAndRestore)
    assert asked["callbacks"][0].backup_dir == str(tmp_path)
    assert asked["validation_data"] == (None if scored else "validation")
    assert history["loss"] == [1.0, 0.5] and len(timer.seconds) == 2 and timer.first == 0
    if scored:
        assert history["val_loss"] == [0.5, 0.25] and history["val_accuracy"] == [0.75, 0.875]
    else:
        assert "val_loss" not in history


@pytest.mark.parametrize("speed, on_gpu, adam, update_xla, step_xla", [
    ({}, False, "FusedAdam", True, False),  # the suite's default: the update XLA-fused on every device
    ({"xla_optimizer": False}, False, "FusedAdam", False, False),  # Keras' own: unfused on a CPU
    ({"xla_optimizer": False}, True, "FusedAdam", True, False),  # ... and XLA on a GPU
    ({"deterministic": True}, True, "FusedAdam", False, False),  # no XLA at all, a GPU's included
    ({"xla": True}, False, "Adam", True, True),  # the whole step in XLA: Keras' Adam inside it
])
def test_the_update_and_the_step_use_xla_as_the_speed_and_the_device_say(speed, on_gpu, adam, update_xla, step_xla,
                                                                          monkeypatch):
    import tensorflow as tf
    import tf_keras

    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    devices = tf.config.list_physical_devices
    for config in (tf.config, tf.compat.v2.config):  # Keras' optimizer asks the second
        monkeypatch.setattr(config, "list_physical_devices",
                            lambda kind=None: ["GPU:0"] if on_gpu and kind == "GPU" else devices(kind))
    classifier = model.build_model("tiny")
    train.compile_model(classifier, TINY_PRESET.replace(**speed), MRPC, steps_per_epoch=4, batch_loss=True)
    assert type(classifier.optimizer).__name__ == adam
    assert classifier.optimizer.jit_compile is update_xla and bool(classifier.jit_compile) is step_xla
    loss = classifier.loss  # the course's, and the one the per-batch loss reports
    assert isinstance(loss, tf_keras.losses.SparseCategoricalCrossentropy) and loss.get_config()["from_logits"]
    batch_loss = [m for m in classifier.compiled_metrics._user_metrics if getattr(m, "name", "") == "batch_loss"]
    assert [m.loss_fn for m in batch_loss] == [loss]


def _widths_dataset(width: int):
    import tensorflow as tf

    rows = {"input_ids": tf.fill([4, width], 5), "attention_mask": tf.ones([4, width], tf.int32),
            "token_type_ids": tf.zeros([4, width], tf.int32)}
    return tf.data.Dataset.from_tensors((rows, tf.zeros([4], tf.int32)))  # static widths, as one batch each


def test_predict_keeps_one_plain_traced_step_and_traces_new_widths_at_most_once_more(capsys):
    """A second predict reuses the traced step; datasets of new static widths do not each trace it again."""
    from glue_repro import train
    from glue_repro.config import TINY_PRESET

    classifier = model.build_model("tiny")
    train.compile_model(classifier, TINY_PRESET, MRPC, steps_per_epoch=4)
    first = train.predict_logits(classifier, _widths_dataset(8), verbose=0)
    function = classifier.predict_function
    np.testing.assert_array_equal(train.predict_logits(classifier, _widths_dataset(8), verbose=0), first)
    assert classifier.predict_function is function and function.experimental_get_tracing_count() == 1
    for width in (12, 16, 20):
        assert train.predict_logits(classifier, _widths_dataset(width), verbose=0).shape == (4, 2)
    assert classifier.predict_function is function and function.experimental_get_tracing_count() == 2
    assert not function._autograph and capsys.readouterr().out == ""  # verbose=0: no progress bar
    train.predict_logits(classifier, _widths_dataset(8), verbose=1)
    assert "1/1" in capsys.readouterr().out  # verbose=1: Keras' progress bar



def test_a_step_is_wrapped_once_and_again_only_when_keras_makes_a_new_one():
    """The plain tf.function is made once per Keras function: asking again (each fit and predict does)
    reuses it, so its traces are kept; a new Keras function (force=True) gets a new wrapper."""
    import tensorflow as tf

    from glue_repro import train

    made = []

    def make_function(force=False):
        if force or not made:
            made.append(tf.function(lambda: tf.constant(1.0)))
        return made[-1]

    make = train._traced_without_autograph(make_function)
    first = make()
    assert make() is first and make() is first and first is not made[0]
    assert first.python_function is made[0].python_function and first() == 1.0
    renewed = make(force=True)
    assert renewed is not first and renewed.python_function is made[1].python_function
    assert make() is renewed
