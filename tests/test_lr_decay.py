import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from glue_repro import cli, lr_decay, metric, results
from glue_repro.tasks import TASKS


def _run(arm, seed, steps_to_acc, steps=100):
    return {"arm": arm, "seed": seed, "steps": steps, "steps_to_target": steps_to_acc}


def test_speedup_is_ratio_of_mean_steps_to_target():
    runs = [_run("adam-constant-1e-3", 1, 80), _run("adam-constant-5e-5", 1, 40), _run("adam-decay-5e-5", 1, 20),
            _run("adam-constant-1e-3", 2, 60), _run("adam-constant-5e-5", 2, 40), _run("adam-decay-5e-5", 2, 40)]
    out = lr_decay.speedups(runs, "steps_to_target")
    assert out["adam-decay-5e-5"]["mean_steps"] == 30
    assert out["adam-constant-1e-3"]["speedup_of_decay"] == pytest.approx(70 / 30)
    assert out["adam-constant-5e-5"]["speedup_of_decay"] == pytest.approx(40 / 30)
    assert not out["adam-constant-1e-3"]["speedup_is_lower_bound"]


def test_an_arm_that_never_reaches_the_target_says_so():
    runs = [_run("adam-constant-1e-3", 1, None), _run("adam-constant-5e-5", 1, 50), _run("adam-decay-5e-5", 1, 25)]
    out = lr_decay.speedups(runs, "steps_to_target")
    row = out["adam-constant-1e-3"]
    assert row["mean_steps"] is None and row["missed_seeds"] == [1] and row["reached"] == 0
    assert row["speedup_of_decay"] == pytest.approx(100 / 25) and row["speedup_is_lower_bound"]


def test_cross_entropy_matches_keras():
    import tf_keras

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(20, 2)) * 3, rng.integers(0, 2, 20)
    keras_loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert metric.loss(TASKS["mrpc"], logits, labels) == pytest.approx(float(keras_loss), rel=1e-5)


def test_mean_squared_error_matches_keras():
    import tf_keras

    rng = np.random.default_rng(0)
    outputs, scores = rng.normal(size=(20, 1)) * 2, rng.uniform(0, 5, 20)
    # as fit calls it: tensors, scores (N,) against outputs (N, 1); numpy arrays would broadcast to (N, N)
    keras_loss = tf_keras.losses.MeanSquaredError()(tf.constant(scores, tf.float32), tf.constant(outputs, tf.float32))
    assert metric.loss(TASKS["stsb"], outputs, scores) == pytest.approx(float(keras_loss), rel=1e-5)


def test_compiled_regression_model_trains_on_squared_error(small_pairs):
    """The loss Keras reports for a regression batch is the squared error of its single output."""
    import datasets

    from glue_repro import inputs, model, train
    from glue_repro.config import TINY_PRESET
    from glue_repro.data import features

    spec = TASKS["stsb"]
    rows = [{"sentence1": r["sentence1"], "sentence2": r["sentence2"], "label": float(i % 6), "idx": i}
            for i, r in enumerate(small_pairs["train"])]
    split = datasets.Dataset.from_list(rows, features=features(spec))
    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(datasets.DatasetDict(train=split, validation=split), tokenizer, spec, 32)
    fed = inputs.tf_datasets(TINY_PRESET.replace(task="stsb"), tokenized, tokenizer, "validation")
    classifier = model.build_model("tiny", num_labels=1, vocab_size=len(tokenizer))
    train.compile_model(classifier, TINY_PRESET.replace(task="stsb"), spec, fed.steps_per_epoch)
    outputs = fed.in_dataset_order(train.predict_logits(classifier, fed.validation, verbose=0))
    assert outputs.shape == (13, 1)
    reported = classifier.evaluate(fed.validation, verbose=0)
    assert reported == pytest.approx(metric.loss(spec, outputs, split["label"]), rel=1e-4)


@pytest.mark.costly
def test_cli_lr_decay_on_tiny_records_all_curves(glue_dir, tmp_path, capsys):
    code = cli.main(["lr-decay", "--preset", "tiny", "--seeds", "1", "--limit", "48", "--eval-every", "2",
                     "--data-dir", str(glue_dir), "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "adam-decay-5e-5" in out
    (path,) = tmp_path.glob("*.json")
    report = json.loads(path.read_text())
    assert {r["arm"] for r in report["runs"]} == set(lr_decay.ARMS)
    for run in report["runs"]:
        assert run["steps"] == len(run["train_loss"]) >= 5
        assert [e["step"] for e in run["evals"]][:2] == [2, 4] and run["evals"][-1]["step"] == run["steps"]
        assert all(np.isfinite(run["train_loss"]))
        assert run["config"]["speed"]["xla_optimizer"] and not run["config"]["speed"]["xla_predict"]  # as each ran
    # same seed, same data order and budget in every arm
    assert len({run["steps"] for run in report["runs"]}) == 1

    assert cli.main(["plot", str(path), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


COMMITTED = Path(__file__).resolve().parents[1] / "results" / "lr_decay"


@pytest.mark.parametrize(("name", "lines"), [
    ("20261129-190126-mrpc-minilm-lr-decay", [
        "arm                              accuracy                   f1  steps to target  steps to loss  decay speedup",
        "adam-constant-1e-3         0.6838+-0.0000       0.8122+-0.0000            never          never         1.86x+",
        "adam-constant-5e-5         0.7925+-0.0102       0.8555+-0.0098        853 (3/3)      192 (3/3)          1.14x",
        "adam-decay-5e-5            0.7998+-0.0111       0.8614+-0.0061        747 (3/3)      149 (3/3)              -",
        "targets: validation accuracy >= 0.8, validation loss <= 0.6; '+' marks a lower bound (an arm missed the "
        "target in some seed)"]),
    ("20261126-000213-minilm-lr-decay", [  # made before the loss target existed
        "arm                              accuracy                   f1  steps to target  steps to loss  decay speedup",
        "adam-constant-1e-3         0.6838+-0.0000       0.8122+-0.0000            never          never         1.98x+",
        "adam-constant-5e-5         0.7157+-0.0185       0.8124+-0.0068        117 (3/3)      171 (3/3)          0.92x",
        "adam-decay-5e-5            0.7034+-0.0074       0.8155+-0.0026        128 (3/3)      160 (3/3)              -",
        "targets: validation accuracy >= 0.7; '+' marks a lower bound (an arm missed the target in some seed)"]),
])
def test_the_plot_command_prints_each_arms_table_and_draws_beside_the_file(name, lines, tmp_path, capsys):
    """What `glue-repro lr-decay` prints for a committed experiment, and `plot` draws it beside a copy."""
    path = tmp_path / f"{name}.json"
    path.write_bytes((COMMITTED / f"{name}.json").read_bytes())
    cli.print_lr_decay(results.load(path, "lr-decay"), path)
    assert capsys.readouterr().out.splitlines() == [*lines, f"result: {path}"]
    assert cli.main(["plot", str(path)]) == 0
    assert capsys.readouterr().out == f"figure: {path.with_suffix('.png')}\n"
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["plot", str(path)]) == 2  # the figure is there now: never replaced
    assert f"{path.with_suffix('.png')}: exists; pass --out" in capsys.readouterr().err
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "again.png")]) == 0  # elsewhere: drawn
    assert (tmp_path / "again.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_refuses_other_files(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("{}")
    assert cli.main(["plot", str(path)]) == 2
    assert "x.json: not a result file of this suite" in capsys.readouterr().err
    run = json.loads(next((Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json")).read_text())
    path.write_text(json.dumps(run))
    assert cli.main(["plot", str(path)]) == 2  # a run: no curves to draw
    assert capsys.readouterr().err.splitlines()[-1] == f"glue-repro: error: {path}: a run file, not a lr-decay file"


@pytest.mark.costly
def test_cli_lr_decay_on_a_regression_task(glue_dir, tmp_path, capsys):
    code = cli.main(["lr-decay", "--preset", "tiny", "--task", "stsb", "--seeds", "1", "--limit", "24",
                     "--eval-every", "3", "--data-dir", str(glue_dir), "--results-dir", str(tmp_path)])
    assert code == 0
    (path,) = tmp_path.glob("*-stsb-tiny-lr-decay.json")
    report = json.loads(path.read_text())
    assert report["task"] == "stsb" and report["target_metric"] == "pearson"
    assert report["target"] == TASKS["stsb"].lr_decay_target and report["loss_target"] is None
    for run in report["runs"]:
        assert set(run["final"]) == {"loss", "pearson", "spearmanr"}
        assert run["steps_to_loss"] is None
    assert "pearson" in capsys.readouterr().out


@pytest.mark.costly
def test_curves_record_each_steps_own_loss(small_pairs):
    """Against the loss computed by hand before each update, with a partial last batch (4, 4, 4, 1 rows)."""
    import tf_keras

    from glue_repro import inputs, model, train
    from glue_repro.config import TINY_PRESET

    # a large constant rate, so that the loss moves between steps
    spec = TASKS["mrpc"]
    config = TINY_PRESET.replace(deterministic=True, schedule="constant", learning_rate=3e-2)
    tokenizer = model.load_tokenizer("tiny")
    tokenized = inputs.tokenize(small_pairs, tokenizer, spec, 32)
    rows = inputs.eval_dataset(tokenized["train"], inputs.model_columns(tokenizer), 4, tokenizer.pad_token_id)
    batches = list(rows.dataset)  # fixed order: the same batches in every pass
    assert [len(y) for _, y in batches] == [4, 4, 4, 1]

    def fresh():
        tf_keras.utils.set_random_seed(0)
        classifier = model.build_model("tiny", vocab_size=len(tokenizer))
        for layer in classifier.submodules:  # no dropout: the training forward pass equals inference's
            if isinstance(layer, tf_keras.layers.Dropout):
                layer.rate = 0.0
        train.compile_model(classifier, config, spec, steps_per_epoch=len(batches), batch_loss=True)
        return classifier

    by_hand, classifier = [], fresh()
    for x, y in batches:
        by_hand.append(metric.loss(spec, classifier(x, training=False).logits.numpy(), y.numpy()))
        classifier.train_on_batch(x, y)

    curves = lr_decay.Curves(score=None, every=1000)
    curves.evaluate = lambda: None  # only the training losses matter here
    fresh().fit(rows.dataset, epochs=1, callbacks=[curves], verbose=0)
    assert curves.train_loss == pytest.approx(by_hand, rel=1e-4)  # float32 training, float64 by hand
    sizes = [4, 4, 4, 1]
    running = np.cumsum(np.multiply(by_hand, sizes)) / np.cumsum(sizes)
    assert np.ptp(by_hand) > 0.05
    assert not np.allclose(curves.train_loss[1:], running[1:], rtol=1e-3)  # not Keras' running mean


def _arm(experiment, arm, seed, data_dir, verbose):
    """Stands in for training an arm: the decay arm reaches both targets; 5e-5 constant only in seed 1."""
    assert (Path(data_dir).name, verbose) == ("glue_data", 0)
    to_target = {"adam-constant-1e-3": None, "adam-constant-5e-5": 8 if seed == 1 else None, "adam-decay-5e-5": 4}
    return {"arm": arm, "seed": seed, "config": experiment.config.replace(seed=seed).to_dict(), "seconds": 1.0,
            "steps": 10, "final": {"loss": 0.5, "accuracy": 0.70 + seed / 100, "f1": 0.8},
            "steps_to_target": to_target[arm], "steps_to_loss": 6 if arm == lr_decay.DECAY_ARM else None,
            "train_loss": [0.7] * 10, "evals": []}


def test_the_experiment_runs_every_arm_per_seed_and_prints_steps_to_target_and_speedups(glue_dir, tmp_path, capsys,
                                                                                          monkeypatch):
    monkeypatch.setattr(lr_decay, "train_arm", _arm)
    assert cli.main(["lr-decay", "--preset", "tiny", "--seeds", "1,2", "--limit", "16",
                     "--data-dir", str(glue_dir), "--results-dir", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*-mrpc-tiny-lr-decay.json")
    report = results.load(path, "lr-decay")
    raw = json.loads(path.read_text())  # as written, before results.load fills in what old files lack
    assert raw["kind"] == "lr-decay" and raw["task"] == "mrpc" and raw["experiment"]["seeds"] == [1, 2]
    assert [(r["seed"], r["arm"]) for r in report["runs"]] == [(s, a) for s in (1, 2) for a in lr_decay.ARMS]
    assert report["target_metric"] == "accuracy" and report["target"] == TASKS["mrpc"].lr_decay_target
    assert report["steps_to_target"][lr_decay.DECAY_ARM]["speedup_of_decay"] is None
    assert report["final"][lr_decay.DECAY_ARM]["accuracy"]["mean"] == pytest.approx(0.715)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "seed 1 adam-constant-1e-3   loss 0.5000 accuracy 0.7100 f1 0.8000 steps-to-target None (1 s)"
    table = {line.split()[0]: line.split()[1:] for line in out if line.startswith("adam-")}
    assert table["adam-decay-5e-5"] == ["0.7150+-0.0071", "0.8000+-0.0000", "4", "(2/2)", "6", "(2/2)", "-"]
    assert table["adam-constant-5e-5"][2:] == ["8", "(1/2)", "never", "2.25x+"]  # seed 2 counted at the budget
    assert table["adam-constant-1e-3"][2:] == ["never", "never", "2.50x+"]
    assert out[-2].startswith(f"targets: validation accuracy >= {TASKS['mrpc'].lr_decay_target}, validation loss <=")
    assert out[-1] == f"result: {path}"


def test_an_experiments_own_targets_replace_the_tasks():
    from glue_repro.config import TINY_PRESET, Experiment

    spec = TASKS["mrpc"]
    assert lr_decay.targets(Experiment(config=TINY_PRESET), spec) == (
        "accuracy", spec.lr_decay_target, spec.lr_decay_loss_target)
    assert lr_decay.targets(Experiment(config=TINY_PRESET, target=0.5, loss_target=0.4), spec) == ("accuracy", 0.5, 0.4)


def test_curves_score_every_few_steps_and_after_the_last():
    curves = lr_decay.Curves(lambda: {"loss": 0.5}, every=2)
    for step in range(5):
        curves.on_train_batch_end(step, {"batch_loss": 1.0 - step / 10})
    curves.on_train_end()
    curves.on_train_end()  # the last step is scored once
    assert curves.train_loss == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    assert curves.evals == [{"step": 2, "loss": 0.5}, {"step": 4, "loss": 0.5}, {"step": 5, "loss": 0.5}]


def test_an_arm_trains_with_its_own_schedule_and_scores_when_asked(glue_dir, tmp_path, capsys, monkeypatch):
    from glue_repro.config import TINY_PRESET, Experiment, from_dict

    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "elsewhere"))  # only the folder given is read
    experiment = Experiment(config=TINY_PRESET.replace(limit=24, xla_predict=True), seeds=(7,), train_rows=8,
                            epochs=3, eval_every=1, target=0.0, loss_target=100.0)  # reached at the first pass
    run = lr_decay.train_arm(experiment, "adam-constant-1e-3", 7, glue_dir)
    assert capsys.readouterr().out == ""  # quiet unless asked
    config = from_dict(run["config"])
    assert run["arm"] == "adam-constant-1e-3" and run["seed"] == config.seed == 7 and run["seconds"] > 0
    assert (config.recipe.schedule, config.recipe.learning_rate) == ("constant", 1e-3)
    assert config.speed.xla_predict is False  # an arm's few validation passes would not pay back XLA's compiles
    assert run["steps"] == len(run["train_loss"]) == 3 and all(np.isfinite(run["train_loss"]))  # 8 rows, 3 epochs
    assert [e["step"] for e in run["evals"]] == [1, 2, 3]
    assert run["final"] == {k: run["evals"][-1][k] for k in ("loss", "accuracy", "f1")}
    assert run["final"]["loss"] not in (run["evals"][0]["loss"], run["evals"][1]["loss"])
    assert run["steps_to_target"] == run["steps_to_loss"] == 1


def test_an_arm_of_a_task_without_a_loss_target_through_the_course_pipeline(glue_dir, capsys):
    """The experiment's epochs, not the preset's; a repeating train set told its steps per epoch; the
    progress shown when asked; no loss target, no steps to it."""
    import time

    from glue_repro.config import TINY_PRESET, Experiment, from_dict

    config = TINY_PRESET.replace(task="rte", limit=24, input_pipeline="course")
    experiment = Experiment(config=config, seeds=(3,), train_rows=8, epochs=config.recipe.epochs - 1, eval_every=5,
                            target=0.0)
    start = time.perf_counter()
    run = lr_decay.train_arm(experiment, lr_decay.DECAY_ARM, 3, glue_dir, verbose=2)
    took = time.perf_counter() - start
    epochs = config.recipe.epochs - 1
    assert f"Epoch {epochs}/{epochs}" in capsys.readouterr().out
    assert from_dict(run["config"]).recipe.epochs == epochs and run["steps"] == epochs  # 8 rows: one batch an epoch
    assert 0 < run["seconds"] <= took
    assert run["steps_to_loss"] is None and run["steps_to_target"] == epochs  # scored once, after the last step


def test_no_speedup_is_claimed_when_the_decay_arm_missed_its_target_in_a_seed():
    runs = [_run("adam-decay-5e-5", 1, 40), _run("adam-decay-5e-5", 2, None),
            _run("adam-constant-5e-5", 1, 80), _run("adam-constant-1e-3", 1, 90)]
    table = lr_decay.speedups(runs, "steps_to_target")
    assert {arm: row["speedup_of_decay"] for arm, row in table.items()} == dict.fromkeys(lr_decay.ARMS)
