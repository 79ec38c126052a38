"""The command line as a user meets it: help for every option, one-line answers to typos, where files go."""

import argparse

import pytest

from glue_repro import cli
from glue_repro.errors import GlueReproError


def _commands() -> dict[str, argparse.ArgumentParser]:
    top = cli.parser()
    (sub,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": top, **sub.choices}


@pytest.mark.parametrize("name", list(_commands()))
def test_every_option_of_every_command_has_help_and_says_its_default(name):
    parser = _commands()[name]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        text = parser._get_formatter()._expand_help(action) if action.help else ""
        assert text, f"{name} {action.option_strings or action.dest}: no help"
        if action.option_strings or action.nargs == "*":  # optional: the user must know what happens without it
            assert "default" in text, f"{name} {action.option_strings or action.dest}: no default in {text!r}"


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["run", "--seed", "1-3"], "(did you mean --seeds 1-3?)"),
        (["run", "--epcohs", "2"], "(did you mean --epochs?)"),
        (["run", "--epcohs=2"], "(did you mean --epochs 2?)"),
        (["run", "--tsak=rte", "--epochs", "1"], "(did you mean --task rte?)"),
        (["run", "--task", "mrcp"], "(did you mean --task mrpc?)"),
        (["run", "--preset", "quik"], "(did you mean --preset quick?)"),
        (["run", "--task", "mini"], "(did you mean --task mnli?)"),  # as near as a choice may be (0.5)
        (["report", "--format", "tabel"], "(did you mean --format table?)"),
        (["lr-decay", "--eval-evry", "8"], "(did you mean --eval-every?)"),
        (["run", "--epochs", "two"], None),  # nothing near: the error alone
        (["run", "--task", "wnx"], "(did you mean --task wnli?)"),  # as near as a choice may be (0.57)
        (["run", "--task", "zzzz"], None),  # no choice near
        (["run", "--threads", "1-3"], None),  # --seeds would take it, but is not near enough (0.6 < 0.7)
        (["sweep", "--cpus-per-run", "0.5"], "(did you mean --gpus-per-run 0.5?)"),  # a near option that takes it
    ],
)
def test_a_mistyped_option_or_value_is_one_line_with_the_nearest_valid_one(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and err.startswith(f"glue-repro: error: {argv[0]}: ")
    assert err.endswith(f"; see 'glue-repro {argv[0]} --help'\n")
    assert (hint in err) if hint else "did you mean" not in err


def test_gate_help_says_how_the_floor_is_computed_and_what_each_exit_code_means(capsys):
    from glue_repro import gate

    with pytest.raises(SystemExit):
        cli.main(["gate", "--help"])
    text = capsys.readouterr().out
    assert f"{gate.FLOOR_STANDARD_ERRORS} * max(std_baseline, {gate.MIN_STD})" in text
    assert all(f"  {code}  " in text for code in (0, 1, 2))


@pytest.mark.parametrize(
    ("argv", "rows"),
    [
        (["--limit", "9"], "first 9 rows per split: partial, not comparable with full runs"),
        (["--preset", "quick"], "first 2000 training rows, every validation row"),
        (["--train-rows", "12"], "first 12 training rows, every validation row"),
        ([], "every row"),
    ],
)
def test_the_banner_says_which_rows_a_run_trains_on_and_where_everything_goes(argv, rows, tmp_path):
    args = cli.parser().parse_args(["run", "--preset", "tiny", "--results-dir", str(tmp_path), "--seeds", "1,2",
                                    *argv])
    args.aggregates_dir = str(cli.aggregates_dir(args))
    text = cli.banner(cli.config_from(args), args, [1, 2])
    assert text.splitlines()[1].endswith(f", {rows}")
    assert text.splitlines()[-1] == f"  results: {tmp_path}/, aggregate: {tmp_path / 'aggregates'}/"


@pytest.mark.parametrize("text, message", [("", "is not a seed"), ("1,x", "'x' is not a seed"),
                                           ("1,1", "repeats a seed"), ("3-1", "holds no seed")])
def test_parse_seeds_refuses_what_is_not_a_seed_list(text, message):
    with pytest.raises(GlueReproError, match=message):
        cli.parse_seeds(text)


def test_parse_seeds_reads_lists_and_ranges():
    assert cli.parse_seeds("1,2, 7-9") == [1, 2, 7, 8, 9]


def test_library_errors_name_the_flag_that_sets_each_field():
    assert cli.as_flags("config field cpu_replicas=2: only with config field strategy='mirrored'") == (
        "--cpu-replicas 2: only with --strategy mirrored")
    assert cli.as_flags("config field cls_only_last_layer=True: turn it off") == "--cls-only-last-layer: turn it off"
    assert cli.as_flags("config field fused_gelu=False: x") == "--no-fused-gelu: x"


def test_the_committed_cli_reference_is_what_the_parser_prints(monkeypatch):
    """docs/cli.md holds every command's --help as the parser prints it now: an option, default or help
    text that changes without regenerating it (python tools/cli_reference.py) fails here."""
    from tools import cli_reference

    monkeypatch.setenv("COLUMNS", cli_reference.COLUMNS)
    made = cli_reference.reference()
    assert made.count("```") == 2 * 11  # the top-level help and each of the ten commands'
    assert made == cli_reference.REFERENCE.read_text(), "docs/cli.md is stale: run python tools/cli_reference.py"


@pytest.mark.parametrize(("gpus", "bf16", "mode", "onednn", "build", "lines"), [
    ([], False, False, True, {}, [
        "CPU: Some CPU (2 cores); bfloat16 in hardware (AMX or AVX512-BF16): no",
        "oneDNN's bfloat16 matmul mode (--matmul-precision bfloat16): keeps float32 products exact on this CPU "
        "(use float32)",
        "GPU: none (TensorFlow sees no GPU: everything runs on the CPU)",
        "TensorFlow {tf}, built with CUDA none, cuDNN none; oneDNN CPU kernels on"]),
    ([], True, True, True, {}, [
        "CPU: Some CPU (2 cores); bfloat16 in hardware (AMX or AVX512-BF16): yes",
        "oneDNN's bfloat16 matmul mode (--matmul-precision bfloat16): rounds float32 products to bfloat16",
        "GPU: none (TensorFlow sees no GPU: everything runs on the CPU)",
        "TensorFlow {tf}, built with CUDA none, cuDNN none; oneDNN CPU kernels on"]),
    ([], True, False, True, {}, [  # AVX512-BF16 without AMX (Zen 4): the mode keeps float32 exact
        "CPU: Some CPU (2 cores); bfloat16 in hardware (AMX or AVX512-BF16): yes",
        "oneDNN's bfloat16 matmul mode (--matmul-precision bfloat16): keeps float32 products exact on this CPU "
        "(use float32, or precision mixed_bfloat16, which computes in bfloat16 on this CPU's AVX512-BF16)",
        "GPU: none (TensorFlow sees no GPU: everything runs on the CPU)",
        "TensorFlow {tf}, built with CUDA none, cuDNN none; oneDNN CPU kernels on"]),
    (["NVIDIA H200", "NVIDIA H100"], True, True, False, {"cuda_version": "12.5.1", "cudnn_version": "9"}, [
        "CPU: Some CPU (2 cores); bfloat16 in hardware (AMX or AVX512-BF16): yes", "GPU: NVIDIA H200",
        "GPU: NVIDIA H100", "TensorFlow {tf}, built with CUDA 12.5.1, cuDNN 9; oneDNN CPU kernels off"]),
])
def test_devices_prints_what_the_probe_and_tensorflows_build_say(gpus, bf16, mode, onednn, build, lines,
                                                                 monkeypatch, capsys):
    """Every line of `glue-repro devices`, from stand-ins for the probe, the CPU's flags, what the bfloat16
    matmul mode does in a new process (the flags do not say: AVX512-BF16 without AMX keeps it exact), and
    TensorFlow's build."""
    import tensorflow as tf

    from glue_repro import environment, runtime

    probe = {"cpu": "Some CPU", "cpu_cores": 2, "gpus": gpus, "onednn": onednn}
    monkeypatch.setattr(environment, "device", lambda: probe)
    monkeypatch.setattr(runtime, "cpu_has_native_bfloat16", lambda: bf16)
    monkeypatch.setattr(runtime, "bfloat16_matmul_mode_works", lambda: mode)
    monkeypatch.setattr(tf.sysconfig, "get_build_info", lambda: build)
    assert cli.main(["devices"]) == 0
    assert capsys.readouterr().out.splitlines() == [line.format(tf=tf.__version__) for line in lines]
    assert cli.main(["devices", "--require-gpu"]) == (0 if gpus else 1)
    assert ("refusing to run the GPU suite on the CPU" in capsys.readouterr().err) == (not gpus)


def test_a_runs_summary_is_one_aligned_line_per_fact(capsys):
    config = {"recipe": {"precision": "float32", "matmul_precision": "bfloat16", "limit": 16}}
    result = {"task": "rte", "label": "minilm+bf16-matmul", "seed": 3, "metrics": {"accuracy": 0.5, "f1": 0.25},
              "collapsed": True, "partial_data": False, "config": config, "device": {"onednn": False},
              "wall_seconds": 61.04, "timing": {"fit_seconds": 50.04, "fit_examples_per_second": 23.44, "fit_mfu": 0.5,
                                                 "predict_seconds": 3.1, "predict_examples_per_second": 131.0,
                                                 "predict_mfu": 0.875, "peak_gflops": 175.4}}
    lines = ["task       rte", "preset     minilm+bf16-matmul", "seed       3", "accuracy   0.5000",
             "f1         0.2500", "collapsed  yes", "fit        50.0 s, 23.4 examples/s, MFU 0.50",
             "predict    3.1 s, 131.0 examples/s, MFU 0.88",
             "peak       175 GFLOP/s (float32 matmul with bfloat16 products, the best measured in this process)",
             "oneDNN     off", "wall       61.0 s", "result     runs/r.json"]
    cli.print_summary(result, "runs/r.json")
    assert capsys.readouterr().out.splitlines() == lines
    healthy = result | {"collapsed": False, "partial_data": True, "device": {"onednn": True}}
    cli.print_summary(healthy, "runs/r.json")
    assert capsys.readouterr().out.splitlines() == [
        *lines[:3], "rows       --limit 16: a partial run, not comparable with full runs", *lines[3:5],
        "collapsed  no", *lines[6:9], "oneDNN     on", *lines[10:]]



def test_an_interrupted_command_names_every_finished_seed_and_its_file():
    stop = KeyboardInterrupt()
    assert cli.interrupted_line(stop) == "interrupted; no result written"
    stop.finished = [(1, "runs/a.json"), (2, "runs/b.json")]
    assert cli.interrupted_line(stop) == ("interrupted; seeds 1, 2 finished (runs/a.json, runs/b.json); run the same "
                                          "command with --resume to run the rest and write the aggregate")


@pytest.mark.parametrize(("flag", "value", "accepts"), [
    ("--epochs", "2", True), ("--epochs", "two", False), ("--deterministic", "yes", False),
    ("--task", "rte", True), ("--task", "rtee", False), ("--model", "anything", True),
])
def test_an_option_accepts_a_value_only_of_its_type_among_its_choices(flag, value, accepts):
    run = _commands()["run"]
    (action,) = [a for a in run._actions if flag in a.option_strings]
    assert cli._accepts(action, value) is accepts


def test_a_mistyped_command_line_error_without_a_near_option_is_the_error_alone(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--zzzzzz"])
    assert capsys.readouterr().err == ("glue-repro: error: run: unrecognized arguments: --zzzzzz; "
                                       "see 'glue-repro run --help'\n")


def test_lr_decay_hands_every_option_to_the_experiment(monkeypatch, tmp_path, capsys):
    from glue_repro import lr_decay

    asked = []
    monkeypatch.setattr(lr_decay, "run", lambda experiment, data_dir, out_dir: asked.append(experiment) or ({}, None))
    monkeypatch.setattr(cli, "print_lr_decay", lambda report, path: None)
    base = ["lr-decay", "--preset", "tiny", "--seeds", "1,2", "--results-dir", str(tmp_path)]
    assert cli.main([*base, "--task", "rte", "--limit", "40", "--epochs", "2", "--train-rows", "100",
                     "--eval-every", "3", "--target", "0.6", "--loss-target", "0.5"]) == 0
    assert cli.main(base) == 0
    given, default = asked
    assert (given.config.recipe.task, given.config.recipe.limit, given.config.recipe.epochs) == ("rte", 40, 2)
    assert (given.seeds, given.epochs, given.train_rows) == ((1, 2), 2, 100)
    assert (given.eval_every, given.target, given.loss_target) == (3, 0.6, 0.5)
    from glue_repro.config import TINY_PRESET, Experiment

    assert default == Experiment(config=TINY_PRESET.replace(epochs=default.epochs), seeds=(1, 2),
                                 epochs=default.epochs)
