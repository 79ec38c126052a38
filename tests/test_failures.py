"""Known failure classes: one line naming the file, flag or field, exit 2 (130 when interrupted), no result file."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glue_repro import cli

REPO = Path(__file__).resolve().parents[1]


def _fails_cleanly(argv, tmp_path, capsys, message, code=2):
    out_dir = tmp_path / "runs"
    got = cli.main(["run", "--preset", "tiny", "--results-dir", str(out_dir), *argv])
    err = capsys.readouterr().err
    assert got == code
    # in-process, libraries imported by earlier tests may print too: one line is ours, and it is the last
    ours = [line for line in err.splitlines() if line.startswith("glue-repro: ")]
    assert len(ours) == 1 and err.splitlines()[-1] == ours[0] and message in ours[0], err
    assert "Traceback" not in err
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
    return err


def test_model_folder_that_does_not_exist(tmp_path, capsys):
    _fails_cleanly(["--model", str(tmp_path / "missing")], tmp_path, capsys,
                   f"model '{tmp_path / 'missing'}': folder {tmp_path / 'missing'} does not exist")


def test_model_folder_without_a_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails_cleanly(["--model", str(tmp_path / "empty")], tmp_path, capsys,
                   f"{tmp_path / 'empty'}: no config.json: not a model folder")
    (tmp_path / "empty" / "config.json").write_text("{}")
    _fails_cleanly(["--model", str(tmp_path / "empty")], tmp_path, capsys,
                   "no tf_model.h5 or model.safetensors to load")
    (tmp_path / "empty" / "model.safetensors").write_bytes(b"")
    _fails_cleanly(["--model", str(tmp_path / "empty")], tmp_path, capsys, "no tokenizer files")


def test_results_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    got = cli.main(["run", "--preset", "tiny", "--results-dir", str(tmp_path / "taken")])
    err = capsys.readouterr().err
    assert got == 2 and f"--results-dir {tmp_path / 'taken'}: exists and is not a folder" in err
    assert (tmp_path / "taken").read_text() == "x"


@pytest.mark.parametrize("layout", ["msr", "tsv"])
def test_misspelt_label_column_in_a_labelled_file(small_mrpc, tmp_path, capsys, layout):
    if layout == "msr":
        path = small_mrpc / "msr_paraphrase_train.txt"
        path.write_text(path.read_text(encoding="utf-8").replace("Quality", "Qualty", 1), encoding="utf-8")
        folder = small_mrpc
    else:
        folder = tmp_path / "tsv"
        folder.mkdir()
        header = "Qualty\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        (folder / "train.tsv").write_text(header + "1\t1\t2\ta\tb\n")
        (folder / "dev.tsv").write_text(header.replace("Qualty", "Quality") + "0\t3\t4\tc\td\n")
        (folder / "test.tsv").write_text("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t5\t6\te\tf\n")
        path = folder / "train.tsv"
    _fails_cleanly(["--data-dir", str(folder)], tmp_path, capsys, f"{path} line 1: missing column 'Quality'")


def test_max_length_beyond_the_position_embeddings(glue_dir, tmp_path, capsys):
    _fails_cleanly(["--max-length", "200", "--data-dir", str(glue_dir), "--limit", "8"], tmp_path, capsys,
                   "glue-repro: error: --max-length 200: above the 128 positions model 'tiny' has embeddings for")


def test_interrupt_is_one_line_and_exit_130(glue_dir, tmp_path, capsys, monkeypatch):
    import glue_repro.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(glue_repro.run, "run", interrupted)
    err = _fails_cleanly(["--data-dir", str(glue_dir)], tmp_path, capsys, "interrupted; no result written", code=130)
    assert err.splitlines()[-1] == "glue-repro: interrupted; no result written"


def test_interrupted_seeds_say_which_finished_and_how_to_resume(glue_dir, tmp_path, capsys, monkeypatch):
    import glue_repro.run

    calls = []

    def second_seed_interrupted(config, runs_dir, **kwargs):
        calls.append(config.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        path = Path(runs_dir) / "seed1.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        return {"seed": config.seed}, path

    monkeypatch.setattr(glue_repro.run, "run", second_seed_interrupted)
    out_dir = tmp_path / "runs"
    got = cli.main(["run", "--preset", "tiny", "--seeds", "1,2,3", "--data-dir", str(glue_dir),
                    "--results-dir", str(out_dir), "--aggregates-dir", str(tmp_path / "agg")])
    err = capsys.readouterr().err
    assert got == 130 and calls == [1, 2]
    assert err.splitlines()[-1] == (f"glue-repro: interrupted; seeds 1 finished ({out_dir / 'seed1.json'}); run the "
                                    "same command with --resume to run the rest and write the aggregate")
    assert not (tmp_path / "agg").exists()


CHECKED_BEFORE_TENSORFLOW = [
    ["run", "--preset", "tiny", "--epochs", "0"],
    ["run", "--preset", "tiny", "--data-dir", "/no/such/folder"],
    ["run", "--preset", "tiny", "--model", "/no/such/model"],
    ["run", "--preset", "tiny", "--num-seeds", "0"],
    ["run", "--preset", "tiny", "--resume"],
    ["lr-decay", "--preset", "tiny", "--eval-every", "0"],
    ["run", "--preset", "tiny", "--strategy", "mirrored", "--cpu-replicas", "2", "--xla"],
    ["run", "--preset", "tiny", "--strategy", "mirrored", "--cpu-replicas", "3"],
    ["run", "--preset", "tiny", "--cpu-replicas", "2"],
    ["run", "--preset", "tiny", "--strategy", "multiworker"],
    # output folders that cannot take files (/proc refuses new files, even root's): checked before any work
    ["run", "--preset", "tiny", "--results-dir", "/proc/glue-repro/runs"],
    ["run", "--preset", "tiny", "--seeds", "1,2", "--aggregates-dir", "/proc/glue-repro/aggregates"],
    ["run", "--preset", "tiny", "--backup-dir", "/proc/glue-repro/backup"],
    ["lr-decay", "--preset", "tiny", "--results-dir", "/proc/glue-repro/lr_decay"],
]


CHECK_IN_ONE_PROCESS = """
import contextlib, io, json, sys
from glue_repro import cli
heavy = ("tensorflow", "tf_keras", "transformers", "datasets")
outcomes = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    loaded = [m for m in heavy if m in sys.modules]
    outcomes.append({"argv": argv, "rc": rc, "stderr": err.getvalue(), "loaded": loaded})
print(json.dumps(outcomes))
"""

def test_bad_options_fail_before_tensorflow_is_imported():
    # The heavy libraries, not a time limit: a loaded machine stretches any limit that would catch them.
    # One process for every case (none may load them, so none can hide another's import).
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run([sys.executable, "-c", CHECK_IN_ONE_PROCESS, json.dumps(CHECKED_BEFORE_TENSORFLOW)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = json.loads(done.stdout)
    assert [o["argv"] for o in outcomes] == CHECKED_BEFORE_TENSORFLOW
    for o in outcomes:
        assert (o["rc"], o["loaded"]) == (2, []), o  # exit code 2, none of them imported
        assert o["stderr"].startswith("glue-repro: error:") and o["stderr"].count("\n") == 1, o


@pytest.mark.costly
def test_a_multiseed_run_killed_midway_resumes(glue_dir, tmp_path, launcher):
    """SIGKILL after the first seed's result, then the same command with --resume finishes the rest."""
    runs, aggregates = tmp_path / "runs", tmp_path / "agg"
    argv = ["run", "--preset", "tiny", "--limit", "16", "--epochs", "1", "--seeds", "1,2", "--data-dir", str(glue_dir),
            "--results-dir", str(runs), "--aggregates-dir", str(aggregates), "--verbose", "0"]
    first = launcher.spawn(argv, tmp_path / "first.log")
    deadline = time.monotonic() + 240
    while not list(runs.glob("*-seed1.json")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (seed1,) = runs.glob("*-seed1.json")
    assert not aggregates.exists() and not list(runs.glob("*-seed2.json"))

    done = launcher.run([*argv, "--resume"], tmp_path / "io", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"reusing {seed1}" in done.stdout  # collapsed or not: a finished seed
    (summary_file,) = aggregates.glob("*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["seeds"] == [1, 2]
    listed = [(aggregates / name).resolve() for name in summary["files"]]  # relative to the aggregate
    assert all(path.is_file() for path in listed)
    assert len(list(runs.glob("*-seed1.json"))) == 1 and listed[0] == seed1.resolve()


def test_result_records_provenance_and_truncation(glue_dir, tmp_path, tiny_folder_model):
    from glue_repro import model
    from glue_repro.config import TINY_PRESET
    from glue_repro.run import run

    result, path = run(TINY_PRESET.replace(model=str(tiny_folder_model), limit=12, epochs=1, max_length=40),
                       data_dir=glue_dir, runs_dir=tmp_path, verbose=0)
    assert result["label"] == f"tiny+{tiny_folder_model.name}" and f"-tiny+{tiny_folder_model.name}-" in path.name
    source = result["model"]
    assert source["path"] == str(tiny_folder_model.resolve()) and source["revision"] is None
    assert source["weights_sha256"] == {"model.safetensors": model._sha256(tiny_folder_model / "model.safetensors")}
    assert {"scipy", "safetensors", "tokenizers"} <= set(result["versions"])
    # every MRPC pair is longer than 40 characters: all 12 rows of each split were cut
    assert result["truncated"] == {"train": 12, "validation": 12}


@pytest.fixture
def tiny_folder_model(tmp_path):
    """The tiny model saved as a local folder: config, PyTorch-format safetensors and its tokenizer."""
    import numpy as np
    from safetensors.numpy import save_file
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    from glue_repro import model

    tokenizer = model.load_tokenizer("tiny")
    source = model.build_model("tiny", vocab_size=len(tokenizer))
    state = {}
    for weight in source.weights:
        if "classifier" in weight.name:
            continue
        name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, tf_weight_shape=weight.shape)
        state[name] = np.ascontiguousarray(weight.numpy().T if transpose.name == "SIMPLE" else weight.numpy())
    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    source.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_results_folder_lost_during_training_loses_no_result(glue_dir, tmp_path, capsys, monkeypatch):
    """The folder is fine when the run starts and gone when it ends: the result is saved elsewhere."""
    from glue_repro import train

    runs, fit = tmp_path / "runs", train.fit

    def fit_then_lose_the_folder(*args, **kwargs):
        done = fit(*args, **kwargs)
        runs.write_text("now a file")  # a folder replaced, a disk filled, permissions changed mid-run
        return done

    monkeypatch.setattr(train, "fit", fit_then_lose_the_folder)
    monkeypatch.setenv("GLUE_REPRO_CACHE", str(tmp_path / "cache"))
    assert cli.main(["run", "--preset", "tiny", "--limit", "8", "--epochs", "1", "--quiet", "--data-dir",
                     str(glue_dir), "--results-dir", str(runs)]) == 0
    captured = capsys.readouterr()
    (saved,) = (tmp_path / "cache" / "unsaved").glob("*-mrpc-tiny-seed42.json")
    assert captured.out.splitlines() == [str(saved)] and json.loads(saved.read_text())["logits_shape"] == [8, 2]
    assert captured.err.splitlines()[-1].startswith(f"glue-repro: could not write {saved.name} into {runs} (")
