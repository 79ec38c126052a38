"""The whole recipe end to end on the tiny model and a slice of real MRPC."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glue_repro import cli, runtime
from glue_repro.config import TINY_PRESET
from glue_repro.results import Result
from glue_repro.run import run

REPO = Path(__file__).resolve().parents[1]


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@pytest.fixture(scope="module")
def tiny_run(glue_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    config = TINY_PRESET.replace(limit=21, epochs=2, seed=3)
    return run(config, data_dir=glue_dir, runs_dir=folder, verbose=0)


def test_result_file_holds_everything(tiny_run):
    result, path = tiny_run
    stored = json.loads(path.read_text())
    assert list(stored) == list(Result.__annotations__)
    assert stored["config"] == TINY_PRESET.replace(limit=21, epochs=2, seed=3).to_dict()
    assert stored["logits_shape"] == [21, 2]
    assert stored["num_examples"] == {"train": 21, "validation": 21}
    assert len(stored["history"]["loss"]) == 2 and len(stored["history"]["val_accuracy"]) == 2
    assert len(stored["timing"]["epoch_seconds"]) == 2
    assert stored["timing"]["fit_examples_per_second"] > 0
    assert 0 <= stored["metrics"]["accuracy"] <= 1
    assert stored["data"]["kind"] == "local" and stored["data"]["checksums_verified"]
    assert stored["versions"]["transformers"].startswith("4.")


def test_result_fields_agree_with_each_other(tiny_run, mrpc):
    """What a user reads off a result: rates from counts over times, the logits' checksum, the split scores."""
    import hashlib

    from glue_repro import metric
    from glue_repro.tasks import TASKS

    _, path = tiny_run
    stored = json.loads(path.read_text())
    t = stored["timing"]
    assert t["fit_examples_per_second"] == pytest.approx(21 * 2 / t["fit_seconds"])  # 21 rows, 2 epochs
    assert t["predict_examples_per_second"] == pytest.approx(21 / t["predict_seconds"])
    assert sum(t["epoch_seconds"]) <= t["fit_seconds"] + 1e-6 and stored["wall_seconds"] > t["fit_seconds"]
    assert t["fit_mfu"] == pytest.approx(t["fit_gflops_per_second"] / t["peak_gflops"])
    assert t["predict_mfu"] == pytest.approx(t["predict_gflops_per_second"] / t["peak_gflops"])
    logits = np.array(stored["logits"], dtype=np.float32)
    assert stored["logits_sha256"] == hashlib.sha256(logits.tobytes()).hexdigest()
    assert stored["metrics_by_split"] == {"validation": stored["metrics"]}
    assert stored["collapse_level"] == pytest.approx(
        metric.collapse_level(TASKS["mrpc"], mrpc["validation"]["label"][:21]))
    assert (stored["kind"], stored["partial_data"], stored["deterministic"]) == ("run", True, False)
    assert stored["resumed_from_epoch"] is None and stored["cell"] is None and stored["command"] is None
    # the tiny preset's character tokenizer spells every MRPC pair past its 64 tokens
    assert stored["truncated"] == {"train": 21, "validation": 21}
    assert stored["distribution"]["strategy"] == "default" and stored["distribution"]["workers"] == 1


def test_result_fields_the_gate_and_aggregates_read_agree_with_the_data(tiny_run, mrpc):
    from glue_repro import metric
    from glue_repro.tasks import TASKS

    result, path = tiny_run
    stored = json.loads(path.read_text())
    assert stored["task"] == "mrpc" and stored["label"] == "tiny" and stored["seed"] == 3
    assert stored["predictions"] == np.argmax(np.array(stored["logits"]), axis=1).tolist()
    first_rows = mrpc["validation"].select(range(21))  # --limit keeps the first rows
    want = metric.scores(TASKS["mrpc"], np.array(stored["predictions"]), list(first_rows["label"]))
    assert stored["metrics"] == pytest.approx(want)
    assert stored["metrics"] != pytest.approx(  # the check can tell rows 1..21 from rows 0..20
        metric.scores(TASKS["mrpc"], np.array(stored["predictions"]), list(mrpc["validation"]["label"])[1:22]))
    assert stored["collapsed"] == metric.is_collapsed(TASKS["mrpc"], np.array(stored["predictions"]))


def test_train_rows_cuts_the_training_split_alone(tmp_path):
    from tests.conftest import write_raw_mrpc

    train = [(i % 2, 100 + i, 200 + i, f"cat {i} sat .", "dogs " * (i % 4) + "ran .") for i in range(24)]
    test = [(label, 300 + i, 400 + i, f"bird {i} .", "fish swam .") for i, label in enumerate([0, 1] * 4)]
    folder = write_raw_mrpc(tmp_path / "MRPC", train + test, test[:1], dev_ids=[(300 + i, 400 + i) for i in range(8)])
    result, _ = run(TINY_PRESET.replace(epochs=1, train_rows=10, seed=1), data_dir=folder, runs_dir=tmp_path / "runs",
                    verbose=0)
    assert (result["num_examples"]["train"], result["num_examples"]["validation"]) == (10, 8)
    assert result["partial_data"] is False and len(result["logits"]) == 8  # scored on every validation row


def test_a_run_that_answers_one_class_is_stored_as_collapsed(tmp_path):
    from tests.conftest import write_raw_mrpc

    train = [(1, 100 + i, 200 + i, f"cat {i} sat .", "dogs " * (i % 4) + "ran .") for i in range(24)]
    test = [(label, 300 + i, 400 + i, f"bird {i} .", "fish swam .") for i, label in enumerate([0, 1] * 4)]
    folder = write_raw_mrpc(tmp_path / "MRPC", train + test, test[:1], dev_ids=[(300 + i, 400 + i) for i in range(8)])
    config = TINY_PRESET.replace(epochs=3, learning_rate=1e-3, seed=1)  # trained on label 1 only
    result, path = run(config, data_dir=folder, runs_dir=tmp_path / "runs", verbose=0)
    stored = json.loads(path.read_text())
    assert set(stored["predictions"]) == {1} and stored["collapsed"] is True
    # the levels of the validation rows it is scored on (half each label: the tie goes to class 0, F1 0), not
    # of its training rows (all 1s: accuracy and F1 1)
    assert stored["collapse_level"] == pytest.approx({"accuracy": 0.5, "f1": 0.0})
    timing = stored["timing"]  # 24 training rows x 3 epochs, 8 validation rows: a rate can tell them apart
    assert timing["fit_examples_per_second"] == pytest.approx(24 * 3 / timing["fit_seconds"])
    assert timing["predict_examples_per_second"] == pytest.approx(8 / timing["predict_seconds"])
    assert stored["metrics"]["accuracy"] == 0.5


def test_last_validation_pass_scores_as_the_final_predict(tiny_run):
    result, _ = tiny_run
    history = result["history"]
    assert len(history["val_f1"]) == len(history["val_loss"]) == 2
    # nothing trains between the last epoch's validation pass and the final predict
    assert history["val_accuracy"][-1] == pytest.approx(result["metrics"]["accuracy"])
    assert history["val_f1"][-1] == pytest.approx(result["metrics"]["f1"])


@pytest.mark.costly
def test_validation_by_predict_matches_keras_validation_data(glue_dir, tmp_path):
    def history(flag):
        folder = tmp_path / flag
        argv = ["run", "--preset", "tiny", "--limit", "16", "--epochs", "2", "--seed", "5", "--deterministic",
                "--data-dir", str(glue_dir), "--results-dir", str(folder), "--verbose", "0", flag]
        assert cli.main(argv) == 0
        return json.loads(next(folder.glob("*.json")).read_text())["history"]

    by_predict, by_evaluate = history("--validate-with-predict"), history("--no-validate-with-predict")
    assert "val_f1" in by_predict and "val_f1" not in by_evaluate
    for key in ("loss", "val_loss", "val_accuracy"):
        assert by_predict[key] == pytest.approx(by_evaluate[key], rel=1e-4), key


@pytest.mark.parametrize("pipeline", ["course", "bucketed"])
def test_cli_runs_and_prints_banner_and_summary(glue_dir, tmp_path, capsys, monkeypatch, pipeline):
    argv = ["run", "--preset", "tiny", "--limit", "9", "--epochs", "1", "--data-dir", str(glue_dir),
            "--results-dir", str(tmp_path), "--input-pipeline", pipeline]
    monkeypatch.setattr(sys, "argv", ["glue-repro", *argv])
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "glue-repro run: mrpc with preset tiny (tiny), seed 42"
    assert "first 9 rows per split: partial, not comparable with full runs" in out
    assert "--limit 9: a partial run, not comparable with full runs" in out  # the summary says it too
    assert "accuracy" in out and "examples/s" in out
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and str(files[0]) in out
    stored = json.loads(files[0].read_text())
    assert stored["logits_shape"] == [9, 2] and stored["config"]["speed"]["input_pipeline"] == pipeline
    assert stored["partial_data"] is True and stored["command"] == ["glue-repro", *argv]
    assert stored["wall_seconds"] >= stored["timing"]["fit_seconds"] + stored["timing"]["predict_seconds"]


def test_cli_overrides_preset_values():
    args = cli.parser().parse_args(["run", "--preset", "tiny", "--seed", "7", "--epochs", "1", "--batch-size", "4",
                                    "--no-xla", "--no-xla-optimizer"])
    config = cli.config_from(args)
    assert (config.seed, config.recipe.epochs, config.recipe.batch_size, config.speed.xla) == (7, 1, 4, False)
    assert not config.speed.xla_optimizer and TINY_PRESET.speed.xla_optimizer
    assert config.recipe.model == TINY_PRESET.recipe.model


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data-dir", "/no/such/dir"], "/no/such/dir: data folder does not exist"),
        (["--batch-size", "0"], "glue-repro: error: --batch-size 0: must be >= 1"),
        pytest.param(["--precision", "mixed_float16"], "needs a GPU, and TensorFlow sees none",
                     marks=pytest.mark.skipif(_has_gpu(), reason="with a GPU this trains instead of failing")),
        (["--xla", "--deterministic"], "cannot be combined with deterministic"),
    ],
)
def test_cli_bad_input_is_one_clear_line(argv, message, tmp_path, capsys):
    code = cli.main(["run", "--preset", "tiny", "--results-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("glue-repro: error:") and message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no result file, not even half of one


def test_devices_require_gpu_fails_clearly_without_one(capsys):
    import tensorflow as tf

    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert cli.main(["devices"]) == 0
    assert cli.main(["devices", "--require-gpu"]) == (0 if has_gpu else 1)
    captured = capsys.readouterr()
    assert "CPU:" in captured.out
    if not has_gpu:
        assert captured.err.splitlines() == [
            "glue-repro: error: TensorFlow sees no GPU (check the driver, CUDA_VISIBLE_DEVICES and that "
            "tensorflow[and-cuda] is installed); refusing to run the GPU suite on the CPU"]
        assert "GPU: none (TensorFlow sees no GPU: everything runs on the CPU)" in captured.out.splitlines()


@pytest.mark.parametrize(("argv", "expected"), [([], "1"), (["--verbatim"], None)])
def test_cli_asks_for_onednn_except_verbatim(argv, expected, tmp_path, monkeypatch):
    monkeypatch.delenv(runtime.ONEDNN, raising=False)
    # A missing data folder stops the run before any work; the choice is made before that.
    cli.main(["run", "--preset", "tiny", "--data-dir", str(tmp_path / "none"), *argv])
    assert os.environ.get(runtime.ONEDNN) == expected


@pytest.mark.parametrize(("env", "state"), [(None, "on"), ("0", "off")])
def test_devices_report_the_onednn_state_tensorflow_loaded_with(env, state):
    environment = {k: v for k, v in os.environ.items() if k != runtime.ONEDNN}
    if env is not None:
        environment[runtime.ONEDNN] = env
    out = subprocess.run([sys.executable, "-m", "glue_repro.cli", "devices"], env=environment, cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"oneDNN CPU kernels {state}" in out.stdout
    native = "yes" if runtime.cpu_has_native_bfloat16() else "no"
    assert f"bfloat16 in hardware (AMX or AVX512-BF16): {native}" in out.stdout


@pytest.mark.parametrize(
    "task, metrics, label_kind",
    [("sst2", ["accuracy"], int), ("stsb", ["pearson", "spearmanr"], float), ("cola", ["matthews_correlation"], int)],
)
def test_tiny_run_end_to_end_per_task(glue_dir, tmp_path, task, metrics, label_kind):
    """Single sentences (SST-2, CoLA) and regression (STS-B) through the whole run."""
    from glue_repro.tasks import TASKS

    spec = TASKS[task]
    result, path = run(TINY_PRESET.replace(task=task, limit=24, epochs=1, seed=2), data_dir=glue_dir,
                       runs_dir=tmp_path, verbose=0)
    assert path.name.endswith(f"-{task}-tiny-seed2.json")
    stored = json.loads(path.read_text())
    assert stored["task"] == task and stored["config"]["recipe"]["task"] == task
    assert list(stored["metrics"]) == metrics and stored["metrics_by_split"] == {"validation": stored["metrics"]}
    assert stored["logits_shape"] == [24, spec.num_labels]
    assert len(stored["predictions"]) == 24 and all(type(p) is label_kind for p in stored["predictions"])
    assert stored["history"]["val_loss"] and f"val_{metrics[0]}" in stored["history"]
    from glue_repro import metric

    # the stored metric is the task's metric of the stored predictions, against the split's labels
    from glue_repro.data import load_local

    labels = load_local(glue_dir, task)[0]["validation"]["label"][:24]
    assert stored["metrics"] == pytest.approx(metric.scores(spec, stored["predictions"], labels), nan_ok=True)
    assert stored["collapsed"] == metric.is_collapsed(spec, stored["predictions"])


def test_help_shows_defaults_and_examples_and_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    flat = " ".join(text.split())  # argparse wraps lines
    assert "(default: the preset's; minilm: 3)" in flat and "(default: the preset's; minilm: 8)" in flat
    assert "(default: results/runs)" in flat and "examples:" in text and "--preset quick --seeds" in text
    undocumented = [line.split()[0] for line in text.splitlines()
                    if line.strip().startswith("--") and line.strip().split()[0] == line.strip() and "help" not in line]
    assert undocumented == []
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("glue-repro 0.")


def test_plot_never_replaces_a_figure_silently(tmp_path, capsys):
    report = {"runs": [], "experiment": {}}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(report))
    path.with_suffix(".png").write_bytes(b"old")
    assert cli.main(["plot", str(path)]) == 2
    assert "x.png: exists; pass --out" in capsys.readouterr().err
    assert path.with_suffix(".png").read_bytes() == b"old"


def test_mfu_is_the_counted_flops_over_the_measured_peak(tiny_run, glue_dir):
    from glue_repro import data, flops, inputs, model
    from glue_repro.tasks import TASKS

    result, _ = tiny_run
    t = result["timing"]
    tokenizer = model.load_tokenizer("tiny")
    splits = data.cut(data.load("mrpc", glue_dir)[0], TASKS["mrpc"], limit=21, train_rows=None)
    tokenized = inputs.tokenize(splits, tokenizer, TASKS["mrpc"], 64)
    config = model.build_model("tiny", vocab_size=len(tokenizer)).config
    train = [len(ids) for ids in tokenized["train"]["input_ids"]]
    validation = [len(ids) for ids in tokenized["validation"]["input_ids"]]
    assert TINY_PRESET.speed.cls_only_last_layer  # counted as the work the model does
    per_epoch = flops.train_flops(config, train, True) + flops.forward_flops(config, validation, True)
    assert per_epoch < flops.train_flops(config, train) + flops.forward_flops(config, validation)
    assert t["fit_gflops_per_second"] == pytest.approx(2 * per_epoch / t["fit_seconds"] / 1e9)
    assert t["predict_gflops_per_second"] == pytest.approx(flops.forward_flops(config, validation, True)
                                                           / t["predict_seconds"] / 1e9)
    assert t["peak_gflops"] > 1
    assert 0 < t["fit_mfu"] <= 1 and 0 < t["predict_mfu"] <= 1
    assert t["fit_mfu"] == pytest.approx(t["fit_gflops_per_second"] / t["peak_gflops"])
    assert t["predict_mfu"] == pytest.approx(t["predict_gflops_per_second"] / t["peak_gflops"])


@pytest.mark.parametrize(
    ("argv", "native", "message"),
    [
        (["--precision", "mixed_bfloat16"], False, "--precision mixed_bfloat16: this CPU has no AMX or AVX512-BF16"),
        (["--matmul-precision", "bfloat16"], False, "--matmul-precision bfloat16: oneDNN keeps float32 matmuls exact "
                                                    "on this CPU even in its bfloat16 mode (tried in a new process); "
                                                    "use float32\n"),
        # AVX512-BF16 without AMX (Zen 4): the mode does nothing there, mixed_bfloat16 is real bfloat16
        (["--matmul-precision", "bfloat16"], True, "use float32, or precision mixed_bfloat16, which computes in "
                                                   "bfloat16 on this CPU's AVX512-BF16\n"),
    ],
)
def test_bfloat16_on_a_cpu_without_it_is_one_clear_line(argv, native, message, tmp_path, capsys, monkeypatch):
    if _has_gpu():
        pytest.skip("with a GPU the GPU answers first")
    monkeypatch.setattr(runtime, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(runtime, "bfloat16_matmul_mode_works", lambda: False)
    code = cli.main(["run", "--preset", "tiny", "--results-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_mixed_bfloat16_trains_on_the_cpu_with_a_float32_head(glue_dir, tmp_path, monkeypatch):
    import tensorflow as tf
    import tf_keras

    from glue_repro.run import prepare

    monkeypatch.setattr(runtime, "cpu_has_native_bfloat16", lambda: True)  # emulated where it is not native
    config = TINY_PRESET.replace(limit=16, epochs=1, precision="mixed_bfloat16")
    try:
        p = prepare(config, glue_dir)
        batch = next(iter(p.inputs.validation))
        features = batch[0] if isinstance(batch, tuple) else batch
        outputs = p.classifier(features, training=False, output_hidden_states=True)
        result, _ = run(config, data_dir=glue_dir, runs_dir=tmp_path, verbose=0)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert outputs.hidden_states[-1].dtype == tf.bfloat16  # the encoder computes in bfloat16
    assert outputs.logits.dtype == tf.float32  # the head in float32
    assert p.classifier.classifier.kernel.dtype == tf.float32
    assert result["config"]["recipe"]["precision"] == "mixed_bfloat16" and result["logits_shape"] == [16, 2]
    assert all(np.isfinite(result["history"]["loss"]))


def test_the_matmul_mode_cannot_change_once_this_process_has_multiplied(tmp_path, capsys, monkeypatch):
    runtime.bfloat16_matmul_in_effect()  # a first oneDNN matmul: strict float32 from now on
    monkeypatch.setattr(runtime, "bfloat16_matmul_mode_works", lambda: True)  # as on a CPU with AMX
    monkeypatch.setenv(runtime.FPMATH, "")
    code = cli.main(["run", "--preset", "tiny", "--results-dir", str(tmp_path), "--matmul-precision", "bfloat16"])
    err = capsys.readouterr().err
    assert code == 2 and "--matmul-precision bfloat16: this process has already fixed oneDNN's matmul mode" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []
    assert not runtime.bfloat16_matmul_in_effect() and os.environ[runtime.FPMATH] == ""  # left as in effect


BF16_MATMUL_RUN = """
import json, sys
from glue_repro import runtime
from glue_repro.config import TINY_PRESET
from glue_repro.run import run
result, path = run(TINY_PRESET.replace(limit=16, epochs=1, matmul_precision="bfloat16"), data_dir=sys.argv[1],
                   runs_dir=sys.argv[2], verbose=0)
print(json.dumps({"in_effect": runtime.bfloat16_matmul_in_effect(), "label": result["label"], "path": str(path),
                  "recipe": result["config"]["recipe"], "fused_gelu": result["config"]["speed"]["fused_gelu"],
                  "peak": result["timing"]["peak_gflops"]}))
"""

def test_a_bfloat16_matmul_run_in_a_new_process_multiplies_in_bfloat16_where_the_cpu_does(glue_dir, tmp_path):
    """Where oneDNN's bfloat16 mode works (AMX) the run multiplies in it; elsewhere it stops, saying why."""
    env = {**os.environ, runtime.FPMATH: ""}  # the run asks for the mode itself
    done = subprocess.run([sys.executable, "-c", BF16_MATMUL_RUN, str(glue_dir), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    if not runtime.bfloat16_matmul_mode_works():
        assert done.returncode == 1 and "oneDNN keeps float32 matmuls exact on this CPU" in done.stderr
        assert list(tmp_path.iterdir()) == []
        return
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["in_effect"] and out["recipe"]["matmul_precision"] == "bfloat16" and out["fused_gelu"] is False
    assert out["label"] == "tiny+bf16-matmul" and "mrpc-tiny+bf16-matmul-seed42" in out["path"]
    assert out["peak"] > 0


def _from_the_hub(monkeypatch, splits) -> None:
    """`data.load` finds no GLUE folder and gets `splits` from a stand-in for the Hub."""
    from glue_repro import data

    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setattr(data, "load_hub", lambda spec: (splits, data.DataSource("hub", "stand-in", spec.name)))


def test_each_validation_split_is_scored_against_its_own_labels(monkeypatch):
    """MNLI's two splits hold the same pairs with different labels: the same predictions score differently."""
    import datasets

    from glue_repro import data, metric
    from glue_repro.run import once
    from glue_repro.tasks import TASKS

    spec = TASKS["mnli"]
    matched = [0] * 6 + [1] * 3 + [2]  # distinct class counts: any constant prediction scores apart
    rows = [{"premise": "a cat" + " sat" * (3 * i % 7) + " .", "hypothesis": f"pair {i} .", "idx": i}
            for i in range(10)]

    def split(labels):
        return datasets.Dataset.from_list([r | {"label": y} for r, y in zip(rows, labels, strict=True)],
                                          features=data.features(spec))

    labels = {"validation_matched": matched, "validation_mismatched": [(y + 1) % 3 for y in matched]}
    splits = {"train": split(matched)} | {name: split(y) for name, y in labels.items()}
    _from_the_hub(monkeypatch, datasets.DatasetDict(splits))
    result = once(TINY_PRESET.replace(task="mnli", epochs=1, max_length=32), verbose=0)
    predictions = result["predictions"]  # the first split's; the second holds the same pairs
    expected = {s: metric.scores(spec, predictions, y)["accuracy"] for s, y in labels.items()}
    assert expected["validation_matched"] != expected["validation_mismatched"]
    assert {s: m["accuracy"] for s, m in result["metrics_by_split"].items()} == pytest.approx(expected)
    assert result["metrics"] == result["metrics_by_split"]["validation_matched"]


def test_every_score_comes_from_predictions_put_back_in_dataset_order(monkeypatch, varied_pairs):
    """run.evaluate, the one scoring step (each run, seed, lr-decay arm, sweep cell): bucketed rows come
    back in the split's order, scored as the course pipeline's unsorted rows are."""
    from glue_repro import metric
    from glue_repro.run import evaluate, prepare
    from glue_repro.tasks import TASKS

    _from_the_hub(monkeypatch, varied_pairs)
    config = TINY_PRESET.replace(max_length=128, batch_size=4, predict_batch_size=4, seed=5)
    bucketed, course = (prepare(config.replace(input_pipeline=pipeline)) for pipeline in ("bucketed", "course"))
    assert not np.array_equal(bucketed.fed["validation"].validation_order, np.arange(23))  # it reorders
    got, want = evaluate(bucketed, "validation"), evaluate(course, "validation")
    assert np.ptp(want.logits[:, 1] - want.logits[:, 0]) > 1e-2  # rows differ far beyond the tolerance
    np.testing.assert_allclose(got.logits, want.logits, atol=1e-5)
    labels = varied_pairs["validation"]["label"]
    assert got.scores == pytest.approx(metric.validation_scores(TASKS["mrpc"], want.logits, labels))


@pytest.mark.costly
@pytest.mark.parametrize("task, metrics", [("qqp", ["accuracy", "f1"]), ("qnli", ["accuracy"]), ("mnli", ["accuracy"])])
def test_qqp_qnli_and_mnli_run_offline_from_a_glue_folder(task, metrics, tmp_path):
    from glue_repro import metric
    from glue_repro.data import load_local
    from glue_repro.tasks import TASKS
    from tests.glue_files import write_glue_folder

    spec, glue = TASKS[task], write_glue_folder(tmp_path / "glue", [task])
    result, _ = run(TINY_PRESET.replace(task=task, epochs=1, seed=2), data_dir=glue, runs_dir=tmp_path / "runs",
                    verbose=0)
    splits = load_local(glue, task)[0]
    assert result["data"]["kind"] == "local" and set(result["metrics_by_split"]) == set(spec.validation_splits)
    assert result["logits_shape"] == [len(splits[spec.validation_splits[0]]), spec.num_labels]
    for split in spec.validation_splits:  # each split scored on its own rows and labels
        scored = result["metrics_by_split"][split]
        assert list(scored) == metrics
        if split == spec.validation_splits[0]:
            expected = metric.scores(spec, result["predictions"], splits[split]["label"])
            assert scored == pytest.approx(expected, nan_ok=True)


@pytest.mark.costly
def test_runs_from_a_local_copy_of_the_hub_repository(glue_dir, tmp_path):
    """MNLI (both validation splits) and RTE (its real rows) from parquet configs, as from the Hub."""
    from glue_repro.data import load_local
    from glue_repro.tasks import TASKS
    from tests.glue_files import write_glue_folder, write_hub_copy

    mnli = load_local(write_glue_folder(tmp_path / "glue", ["mnli"]), "mnli")[0]
    copy = write_hub_copy(tmp_path / "copy", {"mnli": mnli, "rte": load_local(glue_dir, "rte")[0]})
    for task, limit in (("mnli", None), ("rte", 12)):
        result, _ = run(TINY_PRESET.replace(task=task, epochs=1, seed=2, limit=limit), data_dir=copy,
                        runs_dir=tmp_path / "runs", verbose=0)
        assert result["data"]["layout"] == "hub-parquet" and result["data"]["location"] == str(copy.resolve())
        assert list(result["metrics_by_split"]) == list(TASKS[task].validation_splits)


def test_fit_hands_train_the_recipe_and_scores_the_first_validation_split_only_when_asked(monkeypatch):
    """run.fit on stand-ins: Keras' fit gets the recipe's epochs and the pipeline's steps, and a score of the
    task's first validation split each epoch only with validate_with_predict; a lost peer is one line only
    when there are peers."""
    from types import SimpleNamespace

    from glue_repro import errors
    from glue_repro import run as run_module

    asked = []
    monkeypatch.setattr(run_module.train, "fit", lambda *args, **kwargs: asked.append((args, kwargs)) or "fitted")
    monkeypatch.setattr(run_module, "evaluate", lambda p, split: SimpleNamespace(scores={"scored": split}))

    def prepared(validate: bool, workers: int = 1):
        return SimpleNamespace(
            spec=SimpleNamespace(validation_splits=("validation_matched", "validation_mismatched")),
            config=SimpleNamespace(recipe=SimpleNamespace(epochs=3),
                                   speed=SimpleNamespace(validate_with_predict=validate)),
            classifier="model", inputs=SimpleNamespace(train="train", validation="validation", fit_steps=lambda: 7),
            placement=SimpleNamespace(workers=workers))

    for validate in (True, False):
        assert run_module.fit(prepared(validate), verbose=2, backup_dir="backup") == "fitted"
        (args, kwargs), = asked
        asked.clear()
        assert args == ("model", "train", "validation", 3)
        assert {k: v for k, v in kwargs.items() if k != "score"} == {"verbose": 2, "backup_dir": "backup",
                                                                      "steps_per_epoch": 7}
        assert (kwargs["score"]() if validate else kwargs["score"]) == ({"scored": "validation_matched"} if validate
                                                                         else None)

    def lost(*args, **kwargs):
        raise RuntimeError("peer gone")

    monkeypatch.setattr(run_module.train, "fit", lost)
    monkeypatch.setattr(run_module.distribute, "is_peer_failure", lambda err: str(err) == "peer gone")
    monkeypatch.setattr(run_module.distribute, "lost_worker", lambda err: f"a worker was lost ({err})")
    with pytest.raises(errors.GlueReproError, match=r"^a worker was lost \(peer gone\)$"):
        run_module.fit(prepared(True, workers=2), verbose=0, backup_dir=None)
    with pytest.raises(RuntimeError, match="^peer gone$"):  # one process: no peer to lose
        run_module.fit(prepared(True), verbose=0, backup_dir=None)
    monkeypatch.setattr(run_module.distribute, "is_peer_failure", lambda err: False)
    with pytest.raises(RuntimeError, match="^peer gone$"):  # peers, but another failure: as it was
        run_module.fit(prepared(True, workers=2), verbose=0, backup_dir=None)


def test_once_puts_each_part_of_the_run_in_its_own_field(monkeypatch):
    """run.once on stand-ins for its steps: what each step hands back lands in its field, each step gets
    the run's own arguments, the matmul peak is measured before fit and again after predict, and only
    the chief returns a result."""
    import hashlib
    import time
    from types import SimpleNamespace

    from glue_repro import distribute, metric
    from glue_repro import run as run_module
    from glue_repro.run import Evaluation, once
    from glue_repro.tasks import TASKS

    spec = TASKS["mnli"]
    config = TINY_PRESET.replace(task="mnli", seed=4, max_length=32, epochs=2, revision="abc123")
    logits = np.array([[0.1, 0.9, 0.0], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1]], dtype=np.float32)
    labels = {"train": [0, 1, 2, 0, 1], "validation_matched": [1, 1, 0], "validation_mismatched": [2, 0, 1]}
    splits = {name: {"label": y, "rows": len(y)} for name, y in labels.items()}
    calls = []

    def prepared(worker_index):
        return SimpleNamespace(
            spec=spec, splits={name: _Rows(s) for name, s in splits.items()}, source=SimpleNamespace(kind="stand-in"),
            tokenizer="tokenizer", tokenized={"train": "tokenized train", "validation_matched": "tokenized val"},
            classifier=SimpleNamespace(config="model config"),
            placement=distribute.Placement("multiworker", 2, 2, worker_index, 8, 4))

    def evaluate(p, split, verbose=0):
        calls.append(("evaluate", split, verbose))
        shifted = logits if split == "validation_matched" else logits[:, ::-1]
        predictions = np.argmax(shifted, axis=1)
        return Evaluation(shifted, predictions, metric.validation_scores(spec, shifted, labels[split]))

    def utilization(*args):
        calls.append(("utilization", *args))
        return {"peak_gflops": args[-1], "fit_gflops_per_second": 1.0, "predict_gflops_per_second": 2.0,
                "fit_mfu": 0.5, "predict_mfu": 0.25}

    monkeypatch.setattr(run_module, "prepare", lambda c, d: calls.append(("prepare", c, d)) or prepared(worker))
    monkeypatch.setattr(run_module.flops, "matmul_peak",
                        lambda c, again=True: calls.append(("peak", c, again)) or (7.0 if again else 3.0))
    monkeypatch.setattr(run_module, "fit", lambda p, verbose, backup: calls.append(("fit", verbose, backup))
                        or ({"loss": [0.5, 0.4]}, SimpleNamespace(seconds=[0.001, 0.002], first=1)))
    monkeypatch.setattr(run_module, "evaluate", evaluate)
    monkeypatch.setattr(run_module.model, "source", lambda name, classifier, revision: {
        "name": name, "classifier": classifier.config, "revision": revision})
    monkeypatch.setattr(run_module.inputs, "count_truncated", lambda s, t, tok, sp, max_length: {
        "tokenizer": tok, "task": sp.name, "max_length": max_length})
    monkeypatch.setattr(run_module.flops, "utilization", utilization)

    worker = 0
    began = time.perf_counter()
    result = once(config, "data folder", verbose=2, backup_dir="backup", command=["glue-repro", "run"])
    took = time.perf_counter() - began
    assert calls == [
        ("prepare", config, "data folder"), ("peak", config, False), ("fit", 2, "backup"),
        ("evaluate", "validation_matched", 2), ("evaluate", "validation_mismatched", 0), ("peak", config, True),
        ("utilization", "model config", "tokenized train", "tokenized val", config.speed.cls_only_last_layer, 2,
         result["timing"]["fit_seconds"], result["timing"]["predict_seconds"], 7.0)]
    assert (result["kind"], result["task"], result["label"], result["seed"]) == ("run", "mnli", config.label, 4)
    assert result["config"] == config.to_dict() and result["command"] == ["glue-repro", "run"]
    assert result["model"] == {"name": config.recipe.model, "classifier": "model config", "revision": "abc123"}
    assert result["deterministic"] is False and result["data"] == {"kind": "stand-in"}
    assert result["distribution"] == {"strategy": "multiworker", "replicas": 2, "workers": 2, "worker_index": 0,
                                      "global_batch": 8, "per_replica_batch": 4}
    assert result["resumed_from_epoch"] == 1  # the timer's first epoch, with a backup folder
    assert result["truncated"] == {"tokenizer": "tokenizer", "task": "mnli", "max_length": 32}
    assert result["num_examples"] == {"train": 5, "validation_matched": 3, "validation_mismatched": 3}
    assert result["history"] == {"loss": [0.5, 0.4]} and result["logits_shape"] == [3, 3]
    assert result["logits"] == logits.tolist() and result["predictions"] == [1, 1, 0]
    assert result["logits_sha256"] == hashlib.sha256(logits.tobytes()).hexdigest()
    assert result["collapsed"] is False  # two classes among the rows
    assert result["metrics"] == result["metrics_by_split"]["validation_matched"] == {"accuracy": 1.0}
    assert result["metrics_by_split"]["validation_mismatched"] == {"accuracy": 0.0}
    t = result["timing"]
    assert t["fit_examples_per_second"] == pytest.approx(5 * 2 / t["fit_seconds"])
    assert t["predict_examples_per_second"] == pytest.approx(3 / t["predict_seconds"])
    assert t["epoch_seconds"] == [0.001, 0.002] and (t["peak_gflops"], t["fit_mfu"]) == (7.0, 0.5)
    assert 0 < t["fit_seconds"] + t["predict_seconds"] <= result["wall_seconds"] <= took

    calls.clear()
    result = once(config)  # no backup folder: nothing resumed; Keras' own progress display
    assert calls[:3] == [("prepare", config, None), ("peak", config, False), ("fit", "auto", None)]
    assert result["resumed_from_epoch"] is None and result["command"] is None
    worker = 1  # another worker trains and predicts alongside, and returns nothing
    assert once(config, verbose=0) is None


class _Rows:
    """A split as run.once reads it: its length and its labels."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return self.split["rows"]

    def __getitem__(self, column):
        return self.split[column]


def test_run_prepare_and_evaluate_hand_each_step_the_runs_own_arguments(monkeypatch, tmp_path):
    """run.run, run.prepare and run.evaluate on stand-ins for their steps: each step gets the config's own
    fields, in the order the flow reads, and evaluate predicts quietly unless told, on a split's own pipeline."""
    import contextlib
    from types import SimpleNamespace

    from glue_repro import run as run_module

    calls = []

    def record(name, answer=None):
        return lambda *args, **kwargs: calls.append((name, args, kwargs)) or answer

    config = TINY_PRESET.replace(task="mnli", threads=3, strategy="mirrored", cpu_replicas=2, limit=9,
                                 train_rows=7, max_length=40, revision="r1", seed=6)
    strategy = SimpleNamespace(scope=contextlib.nullcontext)
    fed = SimpleNamespace(steps_per_epoch=11)
    for module, name, answer in [
            (run_module.runtime, "set_threads", None), (run_module.distribute, "make_strategy", strategy),
            (run_module.runtime, "setup", None), (run_module.data, "load", ("splits", "source")),
            (run_module.data, "cut", "cut splits"), (run_module.model, "load_tokenizer", "tokenizer"),
            (run_module.inputs, "tokenize", "tokenized"), (run_module.inputs, "tf_datasets", fed),
            (run_module.train, "build", "classifier"), (run_module.distribute, "placement", "placement")]:
        monkeypatch.setattr(module, name, record(name, answer))
    p = run_module.prepare(config, "glue folder", batch_loss=True)
    spec = p.spec
    assert calls == [
        ("set_threads", (3,), {}), ("make_strategy", ("mirrored", 2), {}), ("setup", (config,), {}),
        ("load", (spec, "glue folder"), {}), ("cut", ("splits", spec, 9, 7), {}),
        ("load_tokenizer", ("tiny", "r1"), {}), ("tokenize", ("cut splits", "tokenizer", spec, 40), {}),
        ("tf_datasets", (config, "tokenized", "tokenizer", "validation_matched"), {}),
        ("build", (config, spec, "tokenizer", 11, True), {}), ("placement", ("mirrored", strategy, 8), {})]
    assert (p.splits, p.source, p.classifier, p.placement, p.fed) == (
        "cut splits", "source", "classifier", "placement", {"validation_matched": fed})

    # evaluate: a split not yet fed gets its own evaluation pipeline; rows come back in the split's order
    calls.clear()
    ordered = SimpleNamespace(validation="mismatched batches", in_dataset_order=lambda logits: logits[::-1])
    monkeypatch.setattr(run_module.inputs, "tf_datasets", record("tf_datasets", ordered))
    monkeypatch.setattr(run_module.train, "predict_logits",
                        record("predict_logits", np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]], dtype=np.float32)))
    p.splits = {"validation_mismatched": {"label": [0, 1]}}
    run_module.evaluate(p, "validation_mismatched")
    assert calls[-1] == ("predict_logits", ("classifier", "mismatched batches"), {"verbose": 0})
    evaluation = run_module.evaluate(p, "validation_mismatched", 2)
    assert calls[-1] == ("predict_logits", ("classifier", "mismatched batches"), {"verbose": 2})
    assert calls[0] == ("tf_datasets", (config, "tokenized", "tokenizer", "validation_mismatched"), {"train": False})
    assert [name for name, *_ in calls] == ["tf_datasets", "predict_logits", "predict_logits"]  # fed once
    assert evaluation.predictions.tolist() == [0, 1] and evaluation.scores["accuracy"] == 1.0

    # run: `once`, then a new file named for the config
    asked = []
    monkeypatch.setattr(run_module, "once", lambda *args: asked.append(args) or {"kind": "run", "seed": 6})
    result, path = run_module.run(config, "glue folder", tmp_path, verbose=2, backup_dir="backup", command=["c"])
    assert asked == [(config, "glue folder", 2, "backup", ["c"])] and result == {"kind": "run", "seed": 6}
    assert path.parent == tmp_path and json.loads(path.read_text()) == result
    assert path.name.startswith(run_module.results.run_stem(config))
    monkeypatch.setattr(run_module, "once", lambda *args: asked.append(args))  # a worker other than the chief
    assert run_module.run(config, runs_dir=tmp_path / "none") == (None, None) and not (tmp_path / "none").exists()
    assert asked[-1] == (config, None, "auto", None, None)  # Keras' own progress unless told
    calls.clear()
    monkeypatch.setattr(run_module.inputs, "tf_datasets", record("tf_datasets", fed))
    run_module.prepare(config)
    assert [args for name, args, _ in calls if name == "build"] == [(config, spec, "tokenizer", 11, False)]
