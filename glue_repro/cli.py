"""glue-repro: reproduce the Hugging Face course's Keras fine-tuning on GLUE, and time it."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import shlex
import sys
from pathlib import Path

from glue_repro import results, runtime
from glue_repro.config import COURSE_SPEED, MATMUL_DTYPE, PRESETS, Experiment, Recipe, Speed, options, preset
from glue_repro.errors import GlueReproError
from glue_repro.gate import FLOOR_STANDARD_ERRORS, MIN_STD
from glue_repro.tasks import COURSE_TASK, TASKS


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "verbatim", False):
        # Before anything imports TensorFlow. --verbatim keeps TF's own default, as the course gets it.
        runtime.prefer_onednn()
    runtime.quiet_third_party(debug=wants_library_logs(args))
    try:
        return args.command(args)
    except GlueReproError as err:
        if args.debug:
            raise
        print(f"glue-repro: error: {as_flags(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"glue-repro: {interrupted_line(interrupt)}", file=sys.stderr)
        return 130


def flag_of(field: str) -> str:
    """The option that sets a config field: `--batch-size` for batch_size."""
    return "--" + field.replace("_", "-")


def as_flags(message: str) -> str:
    """A library error names config fields; here each reads as the flag that sets it.

    >>> as_flags("config field max_length=200: above the 128 positions")
    '--max-length 200: above the 128 positions'
    >>> as_flags("config field precision='mixed_float16': needs a GPU; config field xla=True: no")
    '--precision mixed_float16: needs a GPU; --xla: no'
    """
    def flag(match: re.Match) -> str:
        name, value = flag_of(match[1]), match[2].strip("'")
        return {"True": name, "False": f"--no-{name[2:]}"}.get(value, f"{name} {value}")

    return re.sub(r"config field (\w+)=('[^']*'|[^\s:;,]+)", flag, message)


def interrupted_line(interrupt: KeyboardInterrupt) -> str:
    """What an interrupted command says: nothing was written, or which seeds finished."""
    finished = getattr(interrupt, "finished", None)
    if not finished:
        return "interrupted; no result written"
    seeds = ", ".join(str(seed) for seed, _ in finished)
    return (f"interrupted; seeds {seeds} finished ({', '.join(str(path) for _, path in finished)}); "
            "run the same command with --resume to run the rest and write the aggregate")


class Parser(argparse.ArgumentParser):
    """argparse that answers a mistyped option or value in one line, with the nearest valid one
    where there is one (`did you mean --seeds 1-3?`), as git and pip do."""

    def error(self, message: str):
        hint = self.suggestion(message)
        self.exit(2, f"glue-repro: error: {self.prog.removeprefix('glue-repro ')}: {message}"
                     f"{f' (did you mean {hint}?)' if hint else ''}; see '{self.prog} --help'\n")

    def suggestion(self, message: str) -> str | None:
        """The option, or option and value, the user most likely meant."""
        options = {flag: action for action in self._actions for flag in action.option_strings}
        if message.startswith("unrecognized arguments: "):
            for word in message.removeprefix("unrecognized arguments: ").split():
                flag, eq, value = word.partition("=")
                if flag.startswith("--") and (near := difflib.get_close_matches(flag, options, n=1, cutoff=0.6)):
                    return near[0] + (f" {value}" if eq else "")
            return None
        bad = re.match(r"argument (\S+?)(?:/\S+)?: invalid (choice|\w+ value): '(.*?)'", message)
        if not bad:
            return None
        flag, kind, value = bad.groups()
        if kind == "choice":
            near = difflib.get_close_matches(value, [str(c) for c in options[flag].choices or ()], n=1, cutoff=0.5)
            return f"{flag} {near[0]}" if near else None
        for other in difflib.get_close_matches(flag, [f for f in options if f != flag], n=3, cutoff=0.7):
            if _accepts(options[other], value):
                return f"{other} {value}"
        return None


def _accepts(action: argparse.Action, value: str) -> bool:
    """Whether an option that takes a value would take this one."""
    if action.nargs == 0:
        return False
    try:
        converted = action.type(value) if callable(action.type) else value
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        return False
    return action.choices is None or converted in action.choices


TOP_EXAMPLES = """examples:
  glue-repro run --preset quick --seeds 1-3      three short runs (about 1.5 min each), then their aggregate
  glue-repro run                                 the course's recipe on MRPC, offline (minilm, 3 epochs)
  glue-repro run --task sst2 --epochs 1          the course's closing exercise
  glue-repro report                              results/report/REPORT.md and its figures
  glue-repro data --task cola                    what the GLUE folder holds for CoLA
"""
RUN_EXAMPLES = """examples:
  glue-repro run --preset quick --seeds 1,2,3 --results-dir /tmp/runs
  glue-repro run --task stsb --seed 7
  glue-repro run --verbatim --seed 42            the course's input pipeline, for comparison
  glue-repro run --model ./my-bert --limit 64    a quick look at another checkpoint
"""


GATE_EPILOG = f"""how it judges:
  A run fails the gate when it collapsed (one class for every row), or when the mean of any of
  the task's metrics over the runs is below the floor
      mean_baseline - {FLOOR_STANDARD_ERRORS} * max(std_baseline, {MIN_STD}) * sqrt(1/n_runs + 1/n_baseline)
  (glue_repro/gate.py). A one-sided Welch t-test's p-value is printed for information only.
  Runs of another task, preset or recipe than the baseline's are refused; speed options may differ.
  One run per seed counts: of several runs of a seed, the newest.

exit status:
  0  every metric at or above its floor, no run collapsed
  1  a regression: a collapsed run, or a metric below its floor (the table says which)
  2  bad input: no runs, an unreadable file, a missing baseline, runs of another recipe
"""


def add_option(parser, field: dataclasses.Field, default: str) -> None:
    """The option of a config field: `--batch-size` for batch_size, its help and choices from the
    field (config.py), a switch with its `--no-` form for a bool; `default` ends the help."""
    meta, kind = field.metadata, str(field.type)
    flag, help_text = flag_of(field.name), f"{field.metadata['help']} {default}"
    if kind == "bool":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    else:
        convert = int if kind.startswith("int") else float if kind.startswith("float") else str
        parser.add_argument(flag, type=convert, choices=meta.get("choices"), help=help_text)


def preset_default(field: str) -> str:
    """The help's note of a recipe or speed field's default: the preset's, and minilm's value."""
    from glue_repro.config import MINILM_PRESET

    part = MINILM_PRESET.recipe if hasattr(MINILM_PRESET.recipe, field) else MINILM_PRESET.speed
    value = getattr(part, field)
    if value is None or isinstance(value, bool):  # max_length None: the tokenizer's; switches: on or off
        value = {None: "unset", True: "on", False: "off"}[value]
    return f"(default: the preset's; minilm: {value})"


def parser() -> argparse.ArgumentParser:
    from glue_repro import __version__

    top = Parser(prog="glue-repro", description=__doc__, epilog=TOP_EXAMPLES,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    top.set_defaults(parser=top)
    top.add_argument("--version", action="version", version=f"glue-repro {__version__}")
    top.add_argument("--debug", action="store_true",
                     help="show the traceback behind an error, and TensorFlow's own logs (default: one line)")
    commands = top.add_subparsers(required=True)
    run = commands.add_parser("run", help="fine-tune and evaluate on a GLUE task, write a result file",
                              epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--preset", default="minilm", choices=sorted(PRESETS), help="recipe preset (default: minilm)")
    run.add_argument("--data-dir", help="local GLUE folder (default: $GLUE_DIR, else the Hub)")
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one run with this seed (default: 42)")
    seeds.add_argument("--seeds", help="one run per seed, then an aggregate: '1,2,3' or '1-5' (default: one run)")
    seeds.add_argument("--num-seeds", type=int, help="same as --seeds 1-N (default: one run)")
    run.add_argument("--resume", action="store_true",
                     help="with --seeds: reuse each seed's result of the same recipe (collapsed ones too) in "
                          "--results-dir (default: run every seed)")
    run.add_argument("--verbatim", action="store_true",
                     help="run as the course does: course input pipeline, predict batch = batch size, Keras defaults "
                          "(default: the preset's speed options)")
    run.add_argument("--backup-dir", help="back up training there each epoch; rerun the same command to resume "
                                          "(default: no backup)")
    recipe = run.add_argument_group("recipe (what is learned; default: the preset's)")
    for field in options(Recipe):
        add_option(recipe, field, preset_default(field.name))
    speed = run.add_argument_group("speed (how fast it runs; never what is learned)")
    for field in options(Speed):
        add_option(speed, field, preset_default(field.name))
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                     help="Keras progress: 1 = bar (default on a terminal), 2 = one line per epoch (default "
                          "otherwise, e.g. in a log; given, also TensorFlow's and the Hub libraries' own logs), "
                          "0 = none")
    run.add_argument("--quiet", action="store_true",
                     help="no banner and no progress: only the result's path (default: banner, progress, summary)")
    run.add_argument("--results-dir", default=str(results.RUNS_DIR),
                     help="where result files go (default: %(default)s)")
    run.add_argument("--aggregates-dir",
                     help=f"where multi-seed aggregates go (default: {results.AGGREGATES_DIR}; with --results-dir, "
                          "its aggregates/ folder)")
    run.set_defaults(command=run_command, parser=run)

    add_sweep(commands)

    decay = commands.add_parser("lr-decay", help="constant Adam 1e-3 / 5e-5 vs polynomial decay, same seeds and data")
    decay.add_argument("--preset", default="minilm", choices=sorted(PRESETS),
                       help="recipe preset whose model and data are trained (default: %(default)s)")
    fields = {f.name: f for cls in (Recipe, Speed, Experiment) for f in dataclasses.fields(cls)}
    for name in ("task", "strategy", "cpu_replicas", "limit"):
        add_option(decay, fields[name], preset_default(name))
    decay.add_argument("--data-dir", help="local GLUE folder (default: $GLUE_DIR, else the Hub)")
    decay.add_argument("--seeds", default="1,2,3", help=f"{fields['seeds'].metadata['help']} (default: %(default)s)")
    decay.add_argument("--train-rows", type=int, default=Experiment.train_rows,
                       help=f"{fields['train_rows'].metadata['help']}; 0 = all (default: %(default)s)")
    decay.add_argument("--epochs", type=int, default=Experiment.epochs,
                       help=f"{fields['epochs'].metadata['help']} (default: %(default)s)")
    for field in options(Experiment):
        add_option(decay, field, f"(default: {'unset' if field.default is None else field.default})")
    decay.add_argument("--results-dir", default=str(results.LR_DECAY_DIR),
                       help="where the experiment's file goes (default: %(default)s)")
    decay.set_defaults(command=lr_decay_command, parser=decay)

    agg = commands.add_parser("aggregate", help="rebuild a multi-seed aggregate from existing result files")
    agg.add_argument("runs", nargs="+", help="result files or folders of them, one recipe (one run per seed: the "
                                             "newest)")
    agg.add_argument("--aggregates-dir", default=str(results.AGGREGATES_DIR),
                     help="where the aggregate goes (default: %(default)s)")
    agg.set_defaults(command=aggregate_command, parser=agg)

    base = commands.add_parser("baseline", help="make a baseline file from result files of several seeds")
    base.add_argument("runs", nargs="+", help="result files, aggregate files, or folders of result files (one run "
                                              "per seed: the newest)")
    base.add_argument("--out", help="baseline file (default: results/baselines/<task>-<preset>-<cpu|gpu>.json)")
    base.set_defaults(command=baseline_command, parser=base)

    gate = commands.add_parser("gate", help="fail when runs score worse than the baseline", epilog=GATE_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.add_argument("runs", nargs="+", help="result files, aggregate files, or folders of result files")
    gate.add_argument("--baseline", help="baseline file (default: results/baselines/<task>-<preset>-<cpu|gpu>.json)")
    gate.set_defaults(command=gate_command, parser=gate)

    plot = commands.add_parser("plot", help="plot an lr-decay result file to PNG")
    plot.add_argument("report", help="a results/lr_decay/*.json file")
    plot.add_argument("--out", help="PNG file (default: beside the report; never replaces an existing file)")
    plot.set_defaults(command=plot_command, parser=plot)

    show = commands.add_parser("data", help="what a GLUE folder (or the Hub) holds for a task, per split")
    show.add_argument("--task", default=COURSE_TASK, choices=list(TASKS), help="GLUE task (default: %(default)s)")
    show.add_argument("--data-dir", help="local GLUE folder (default: $GLUE_DIR, else the Hub)")
    show.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    show.set_defaults(command=data_command, parser=show)

    report = commands.add_parser("report", help="write REPORT.md and figures from result files, or print the run table")
    report.add_argument("results", nargs="*", default=[str(results.RESULTS_DIR)],
                        help="result files or folders (default: results/)")
    report.add_argument("--out", default=str(results.RESULTS_DIR / "report"),
                        help="folder for REPORT.md and the figures (default: results/report)")
    report.add_argument("--format", choices=("table", "markdown", "csv", "json"),
                        help="print a table in this format and write nothing (default: write the page)")
    report.add_argument("--table", choices=("runs", "glue"), default="runs",
                        help="with --format: every run, or the GLUE table (default: %(default)s)")
    report.set_defaults(command=report_command, parser=report)

    devices = commands.add_parser("devices", help="list the devices TensorFlow sees, and say whether it sees a GPU")
    devices.add_argument("--require-gpu", action="store_true",
                         help="exit 1 unless TensorFlow sees a GPU (default: exit 0 either way)")
    devices.set_defaults(command=devices_command, parser=devices)
    return top


SWEEP_EXAMPLES = """examples:
  glue-repro sweep --tasks wnli,mrpc,rte,stsb,cola    five tasks x minilm x seeds 1-3, on a local Ray cluster
  glue-repro sweep --tasks sst2 --epochs 1 --resume   the course's exercise; reuse every cell already finished
  glue-repro sweep --address 10.0.0.5:6379 --cpus-per-run 4   join a running cluster (nodes need RAY_AUTH_TOKEN)
  glue-repro sweep --plan > cells.txt                 the cells as plain `glue-repro run` lines, for another scheduler
"""
SWEEP_FIXED = ("task", "threads")  # a cell's task is its own; its threads are --cpus-per-run


def add_sweep(commands) -> None:
    sweep = commands.add_parser("sweep", help="the GLUE matrix (tasks x presets x seeds) on Ray, then the GLUE table",
                                epilog=SWEEP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("--tasks", help="GLUE tasks, comma-separated, or 'all' (every task) (default: every task "
                                        "whose files the data folder holds; without one, all)")
    sweep.add_argument("--presets", default="minilm", help=f"presets, comma-separated, of {', '.join(PRESETS)} "
                                                           "(default: %(default)s)")
    sweep.add_argument("--seeds", default="1-3", help="'1,2,3' or '1-5' (default: %(default)s)")
    sweep.add_argument("--data-dir", help="local GLUE folder (default: $GLUE_DIR, else the Hub)")
    sweep.add_argument("--resume", action="store_true",
                       help="reuse each cell's result of the same recipe (collapsed ones too) in --results-dir "
                            "(default: run all)")
    sweep.add_argument("--plan", action="store_true",
                       help="print the cells as `glue-repro run` commands, one a line, and run nothing "
                            "(default: run them)")
    ray = sweep.add_argument_group("Ray")
    ray.add_argument("--address", help="a running Ray cluster, host:port (default: start one on this machine, on "
                                       "127.0.0.1 only, and stop it at the end)")
    ray.add_argument("--cpus-per-run", type=int, help="CPUs a cell takes, and TensorFlow's threads in it "
                                                      "(default: a whole node's)")
    ray.add_argument("--gpus-per-run", type=float, default=0, help="GPUs a cell takes (default: %(default)s)")
    ray.add_argument("--workers", type=int, default=1,
                     help="run each cell over N workers (MultiWorkerMirroredStrategy through Ray Train) "
                          "(default: %(default)s)")
    ray.add_argument("--retries", type=int, default=2,
                     help="runs of a cell again when its worker process or node is lost (default: %(default)s)")
    ray.add_argument("--worker-logs", action="store_true", help="show the workers' own output (default: off)")
    recipe = sweep.add_argument_group("recipe, for every cell (default: each preset's)")
    for field in options(Recipe):
        if field.name not in SWEEP_FIXED:
            add_option(recipe, field, preset_default(field.name))
    speed = sweep.add_argument_group("speed, for every cell")
    for field in options(Speed):
        if field.name not in SWEEP_FIXED:
            add_option(speed, field, preset_default(field.name))
    sweep.add_argument("--results-dir", default=str(results.RUNS_DIR), help="where result files go (default: "
                                                                            "%(default)s)")
    sweep.add_argument("--aggregates-dir",
                       help=f"where aggregates go (default: {results.AGGREGATES_DIR}; with --results-dir, its "
                            "aggregates/ folder)")
    sweep.set_defaults(command=sweep_command, parser=sweep, verbose=None, quiet=False)


def sweep_command(args) -> int:
    from glue_repro import data, report, sweep
    from glue_repro.config import RECIPE_FIELDS, SPEED_FIELDS
    from glue_repro.tasks import TASKS

    if args.tasks is None:
        data_dir = args.data_dir or os.environ.get("GLUE_DIR")
        tasks = data.local_tasks(data_dir) if data_dir else list(TASKS)
        if not tasks:
            raise GlueReproError(f"{data_dir}: no GLUE task's files in this folder; give --tasks, or --data-dir")
    else:
        tasks = list(TASKS) if args.tasks == "all" else _names(args.tasks, TASKS, "--tasks")
    changes = {f: getattr(args, f) for f in (*RECIPE_FIELDS, *SPEED_FIELDS) if getattr(args, f, None) is not None}
    for flag, value, least in (("--workers", args.workers, 1), ("--retries", args.retries, 0),
                               ("--cpus-per-run", args.cpus_per_run, 1), ("--gpus-per-run", args.gpus_per_run, 0)):
        if value is not None and value < least:  # --cpus-per-run not given: a whole node, decided later
            raise GlueReproError(f"{flag} {value}: must be >= {least}")
    matrix = sweep.Matrix(tuple(tasks), tuple(_names(args.presets, PRESETS, "--presets")),
                          tuple(parse_seeds(args.seeds)), changes, args.cpus_per_run, args.gpus_per_run,
                          args.workers, args.retries)
    configs = [matrix.config(cell) for cell in matrix.cells()]  # every cell's config checked before any work
    if args.plan:
        for cell in matrix.cells():
            print(plan_line(cell, args))
        return 0
    args.aggregates_dir = str(aggregates_dir(args))
    check_paths(args, configs[0].replace(strategy="default") if args.workers > 1 else configs[0])  # Ray sets TF_CONFIG
    command = ["glue-repro", *sys.argv[1:]]
    try:
        outcome = sweep.run(matrix, Path(args.results_dir), Path(args.aggregates_dir), args.data_dir, args.address,
                            args.resume, worker_logs=args.worker_logs, command=command)
    except sweep.Interrupted as stop:
        done = stop.outcome.finished()
        print(f"glue-repro: interrupted; {len(done)} of {len(matrix.cells())} cells finished"
              + "".join(f"\n  {cell}: {path}" for cell, (_, path) in done.items())
              + "".join(f"\n  aggregate: {path}" for path in stop.outcome.aggregates)
              + "\nrun the same command with --resume to run the rest and write the aggregates", file=sys.stderr)
        return 130
    runs = [(path, result) for result, path in outcome.finished().values()]
    print(report.format_rows(report.glue_table(runs), "table"))
    for path in outcome.aggregates:
        print(f"aggregate: {path}")
    for cell, why in outcome.failed.items():
        print(f"failed: {cell}: {why}", file=sys.stderr)
    return 1 if outcome.failed else 0


def _names(text: str, known, flag: str) -> list[str]:
    """A comma-separated list of known names, each checked."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            raise GlueReproError(f"{flag}: unknown {name!r}{f' (did you mean {near[0]}?)' if near else ''}; "
                                 f"known: {', '.join(known)}")
    if not names:
        raise GlueReproError(f"{flag}: {text!r} names nothing")
    return names


def plan_line(cell, args) -> str:
    """One cell as the `glue-repro run` command that runs it alone, with the sweep's run options."""
    from glue_repro.config import RECIPE_FIELDS, SPEED_FIELDS

    words = ["glue-repro", "run", "--task", cell.task, "--preset", cell.preset, "--seed", str(cell.seed)]
    for name in (*RECIPE_FIELDS, *SPEED_FIELDS):
        value = getattr(args, name, None)
        if value is not None and name not in SWEEP_FIXED:
            flag = flag_of(name)
            words += [flag if value is True else f"--no-{flag[2:]}"] if isinstance(value, bool) else [flag, str(value)]
    for name in ("data_dir", "results_dir"):
        if getattr(args, name) and (name != "results_dir" or Path(args.results_dir) != results.RUNS_DIR):
            words += [flag_of(name), getattr(args, name)]
    return " ".join(shlex.quote(w) for w in words)


def config_from(args: argparse.Namespace):
    """The preset with every option the user gave on the command line applied."""
    from dataclasses import replace

    from glue_repro.config import RECIPE_FIELDS, SPEED_FIELDS

    fields = ("seed", *RECIPE_FIELDS, *SPEED_FIELDS)
    changes = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    base = preset(args.preset)
    if getattr(args, "verbatim", False):
        base = replace(base, speed=COURSE_SPEED)
    return base.replace(**changes)


def run_command(args) -> int:
    from pathlib import Path

    from glue_repro import multiseed

    config = config_from(args)
    verbose = progress_mode(args)
    seeds = parse_seeds(args.seeds) if args.seeds else None
    if args.num_seeds is not None:
        if args.num_seeds < 1:
            raise GlueReproError(f"--num-seeds {args.num_seeds}: must be >= 1")
        seeds = list(range(1, args.num_seeds + 1))
    if args.resume and seeds is None:
        raise GlueReproError("--resume: only with --seeds or --num-seeds")
    if args.backup_dir and seeds is not None:
        raise GlueReproError("--backup-dir: one run at a time (use --resume for several seeds)")
    args.aggregates_dir = str(aggregates_dir(args)) if seeds else None
    check_paths(args, config)
    if not args.quiet:
        print(banner(config, args, seeds), flush=True)
    load_tensorflow(args)
    from glue_repro.run import run

    command = ["glue-repro", *sys.argv[1:]]
    if seeds is None:
        backup = Path(args.backup_dir) if args.backup_dir else None
        result, path = run(config, data_dir=args.data_dir, runs_dir=Path(args.results_dir), verbose=verbose,
                           backup_dir=backup, command=command)
        if path is None:
            print("trained as a worker; the chief writes the result")
        elif args.quiet:
            print(path)
        else:
            print_summary(result, path)
        return 0
    summary, path = multiseed.run_seeds(config, seeds, data_dir=args.data_dir, runs_dir=Path(args.results_dir),
                                        aggregates_dir=Path(args.aggregates_dir), verbose=verbose,
                                        resume=args.resume, command=command,
                                        log=(lambda line: None) if args.quiet else print)
    if args.quiet:
        print(path)
    else:
        print_aggregate(summary, path)
    return 0


def parse_seeds(text: str) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; ranges too: '1-5' -> [1, 2, 3, 4, 5].

    >>> parse_seeds("1,2, 7-9")
    [1, 2, 7, 8, 9]
    """
    seeds = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise GlueReproError(f"--seeds: {part.strip()!r} is not a seed or a range like 1-5") from None
    if not seeds:
        raise GlueReproError(f"--seeds: {text!r} holds no seed")
    if len(set(seeds)) != len(seeds):
        raise GlueReproError(f"--seeds: {text!r} repeats a seed")
    return seeds


def wants_library_logs(args) -> bool:
    """--debug, or --verbose 2 on run: TensorFlow's and the Hub libraries' own logs stay on."""
    return args.debug or getattr(args, "verbose", None) == 2


def load_tensorflow(args) -> None:
    """After the options are checked: TensorFlow, its start-up chatter off stderr unless asked for."""
    if not wants_library_logs(args):
        runtime.import_tensorflow_quietly()


def progress_mode(args) -> int:
    """Keras' progress: a bar on a terminal, a line per epoch in a log, none when quiet."""
    if args.quiet:
        return 0
    if args.verbose is not None:
        return args.verbose
    return 1 if sys.stdout.isatty() else 2


def banner(config, args, seeds) -> str:
    """What is about to run, before any work starts."""
    r, s = config.recipe, config.speed
    data = args.data_dir or os.environ.get("GLUE_DIR")
    where = f"{data} ({'--data-dir' if args.data_dir else 'GLUE_DIR'})" if data else "the Hugging Face Hub"
    runs = f"seeds {', '.join(map(str, seeds))}" if seeds else f"seed {config.seed}"
    if r.limit:
        rows = f"first {r.limit} rows per split: partial, not comparable with full runs"
    elif r.train_rows:
        rows = f"first {r.train_rows} training rows, every validation row"
    else:
        rows = "every row"
    return "\n".join([
        f"glue-repro run: {r.task} with preset {config.label} ({r.model}), {runs}",
        f"  recipe: batch {r.batch_size}, {r.epochs} epoch(s), Adam {r.learning_rate:g}"
        + (f" -> {r.end_learning_rate:g} (polynomial)" if r.schedule == "polynomial" else " (constant)")
        + f", {r.precision}" + (", bfloat16 matmul products" if r.matmul_precision == "bfloat16" else "") + f", {rows}",
        f"  speed: {s.input_pipeline} input pipeline, strategy {s.strategy}"
        + (f" over {s.cpu_replicas} CPU devices" if s.cpu_replicas > 1 else "")
        + (", deterministic" if s.deterministic else ""),
        f"  data: {where}",
        f"  results: {args.results_dir}/" + (f", aggregate: {args.aggregates_dir}/" if seeds else ""),
    ])


def check_paths(args, config) -> None:
    """The folders and model a command reads or writes, checked before TensorFlow loads."""
    from glue_repro import distribute, model

    for flag in ("results_dir", "aggregates_dir", "backup_dir"):
        check_output(getattr(args, flag, None), flag)
    data_dir = args.data_dir or os.environ.get("GLUE_DIR")
    if data_dir and not Path(data_dir).is_dir():
        where = "--data-dir" if args.data_dir else "GLUE_DIR"
        raise GlueReproError(f"{data_dir}: data folder does not exist (set by {where})")
    model.check_source(config.recipe.model, config.recipe.revision)
    distribute.check(config.speed.strategy, config.speed.cpu_replicas, config.recipe.batch_size, config.speed.xla)


def check_output(folder, dest: str) -> None:
    """An output folder must take files before any work starts: nothing trained is lost at the end."""
    why = folder and results.check_writable(Path(folder))
    if why:
        raise GlueReproError(f"--{dest.replace('_', '-')} {folder}: {why}")


def aggregates_dir(args) -> Path:
    """--aggregates-dir; else beside the runs when --results-dir moved them, else results/aggregates."""
    if args.aggregates_dir:
        return Path(args.aggregates_dir)
    if Path(args.results_dir) != results.RUNS_DIR:
        return Path(args.results_dir) / "aggregates"
    return results.AGGREGATES_DIR


def _peak_kind(recipe: dict) -> str:
    """The matmul a run's MFU is measured against: its own dtype and matmul mode.

    >>> _peak_kind({"precision": "mixed_bfloat16"}), _peak_kind({"matmul_precision": "bfloat16"}), _peak_kind({})
    ('bfloat16 matmul', 'float32 matmul with bfloat16 products', 'float32 matmul')
    """
    if recipe.get("matmul_precision", "float32") == "bfloat16":
        return "float32 matmul with bfloat16 products"
    return f"{MATMUL_DTYPE[recipe.get('precision', 'float32')]} matmul"


def print_summary(result: dict, path) -> None:
    t = result["timing"]
    partial = result["partial_data"]
    rows = [
        ("task", result["task"]),
        ("preset", result["label"]),
        ("seed", result["seed"]),
        *((name, f"{value:.4f}") for name, value in result["metrics"].items()),
        ("collapsed", "yes" if result["collapsed"] else "no"),
        ("fit", f"{t['fit_seconds']:.1f} s, {t['fit_examples_per_second']:.1f} examples/s, MFU {t['fit_mfu']:.2f}"),
        ("predict", f"{t['predict_seconds']:.1f} s, {t['predict_examples_per_second']:.1f} examples/s, "
                    f"MFU {t['predict_mfu']:.2f}"),
        ("peak", f"{t['peak_gflops']:.0f} GFLOP/s ({_peak_kind(result['config']['recipe'])}, "
                 "the best measured in this process)"),
        ("oneDNN", "on" if result["device"]["onednn"] else "off"),
        ("wall", f"{result['wall_seconds']:.1f} s"),
        ("result", str(path)),
    ]
    if partial:
        rows.insert(3, ("rows", f"--limit {result['config']['recipe']['limit']}: a partial run, not comparable "
                                "with full runs"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def lr_decay_command(args) -> int:
    given = {k: getattr(args, k) for k in ("task", "strategy", "cpu_replicas", "limit") if getattr(args, k) is not None}
    config = preset(args.preset).replace(epochs=args.epochs, **given)
    arms = {f.name: getattr(args, f.name) for f in options(Experiment) if getattr(args, f.name) is not None}
    experiment = Experiment(config=config, seeds=tuple(parse_seeds(args.seeds)), train_rows=args.train_rows or None,
                            epochs=args.epochs, **arms)
    check_paths(args, config)
    load_tensorflow(args)
    from glue_repro import lr_decay

    report, path = lr_decay.run(experiment, data_dir=args.data_dir, out_dir=Path(args.results_dir))
    print_lr_decay(report, path)
    return 0


def print_lr_decay(report: dict, path) -> None:
    metrics = [m for m in next(iter(report["final"].values())) if m != "loss"]
    print(f"{'arm':<20} " + " ".join(f"{m:>20}" for m in metrics)
          + f" {'steps to target':>16} {'steps to loss':>14} {'decay speedup':>14}")
    for arm, final in report["final"].items():
        to_target, to_loss = report["steps_to_target"][arm], report["steps_to_loss_target"][arm]
        ratio = to_target.get("speedup_of_decay")
        speed = "-" if ratio is None else f"{ratio:.2f}x" + ("+" if to_target.get("speedup_is_lower_bound") else "")
        print(f"{arm:<20} " + " ".join(f"{_pm(final[m]):>20}" for m in metrics)
              + f" {_steps(to_target):>16} {_steps(to_loss):>14} {speed:>14}")
    loss = "" if report["loss_target"] is None else f", validation loss <= {report['loss_target']}"
    print(f"targets: validation {report['target_metric']} >= {report['target']}{loss}; '+' marks a lower bound "
          "(an arm missed the target in some seed)")
    print(f"result: {path}")


def _steps(row: dict) -> str:
    """Mean steps to a target, with how many seeds reached it."""
    if row["mean_steps"] is None:
        return "never"
    return f"{row['mean_steps']:.0f} ({row['reached']}/{row['reached'] + len(row['missed_seeds'])})"


def _pm(summary: dict) -> str:
    """
    >>> _pm({"mean": 0.8, "std": None}), _pm({"mean": 0.8, "std": 0.0123})
    ('0.8000', '0.8000+-0.0123')
    """
    if summary["std"] is None:
        return f"{summary['mean']:.4f}"
    return f"{summary['mean']:.4f}+-{summary['std']:.4f}"


def aggregate_command(args) -> int:
    from glue_repro import multiseed

    runs, files = results.read_runs(args.runs)
    summary, path = multiseed.write_aggregate(runs, files, Path(args.aggregates_dir))
    print_aggregate(summary, path)
    return 0


def baseline_command(args) -> int:
    from glue_repro import gate

    runs, _ = results.read_runs(args.runs)
    baseline = gate.make_baseline(runs)
    out = Path(args.out) if args.out else gate.default_baseline_path(runs[0])
    if out.exists():
        raise GlueReproError(f"{out}: exists; baselines are never overwritten (remove it or pass --out)")
    path = results.write_new(baseline, out.parent, out.stem)
    for m in baseline["summary"]:
        s = baseline["summary"][m]
        print(f"{m}: mean {s['mean']:.4f} std {s['std']:.4f} over {s['n']} seeds")
    print(f"baseline: {path}")
    return 0


def gate_command(args) -> int:
    from glue_repro import gate

    runs, files = results.read_runs(args.runs)
    baseline_path = Path(args.baseline) if args.baseline else gate.default_baseline_path(runs[0])
    verdict = gate.judge(runs, gate.read_baseline(baseline_path))
    verdict["baseline"] = str(baseline_path)
    verdict["runs"] = [str(f) for f in files]
    print(gate.table(verdict))
    print(f"verdict: {gate.write_verdict(verdict, files)}")
    return 0 if verdict["passed"] else 1


def plot_command(args) -> int:
    from glue_repro.report import lr_decay_figure

    path = Path(args.report)
    out = Path(args.out) if args.out else path.with_suffix(".png")
    if not args.out and out.exists():
        raise GlueReproError(f"{out}: exists; pass --out to write the figure elsewhere")
    report = results.load(path, "lr-decay")
    print(f"figure: {lr_decay_figure(report, out)}")
    return 0


def report_command(args) -> int:
    from glue_repro import report

    sources = [Path(p) for p in args.results]
    found = report.collect(sources)
    if found.empty:
        unreadable = f" ({len(found.skipped)} unreadable)" if found.skipped else ""
        raise GlueReproError(f"{', '.join(map(str, sources))}: no result files to report on{unreadable}")
    if args.format:  # a format prints a table and writes nothing
        rows = report.glue_table(found.runs) if args.table == "glue" else report.run_rows(found.runs)
        print(report.format_rows(rows, args.format))
        return 0
    out = Path(args.out)
    check_output(out, "out")
    replacing = (out / "REPORT.md").exists()
    path = report.write(found, out)
    print(f"{'replaced' if replacing else 'wrote'} {path} and {len(list(out.glob('*.png')))} figures")
    return 0


def devices_command(args) -> int:
    load_tensorflow(args)
    import tensorflow as tf

    from glue_repro.environment import device

    info = device()
    build = tf.sysconfig.get_build_info()
    bf16 = "yes" if runtime.cpu_has_native_bfloat16() else "no"
    print(f"CPU: {info['cpu']} ({info['cpu_cores']} cores); bfloat16 in hardware (AMX or AVX512-BF16): {bf16}")
    if info["onednn"]:  # what the mode does here, tried in a new process: the flags do not tell (Zen 4)
        mode = ("rounds float32 products to bfloat16" if runtime.bfloat16_matmul_mode_works() else
                f"keeps float32 products exact on this CPU ({runtime.instead_of_bfloat16_matmuls()})")
        print(f"oneDNN's bfloat16 matmul mode (--matmul-precision bfloat16): {mode}")
    for name in info["gpus"]:
        print(f"GPU: {name}")
    if not info["gpus"]:
        print("GPU: none (TensorFlow sees no GPU: everything runs on the CPU)")
    print(f"TensorFlow {tf.__version__}, built with CUDA {build.get('cuda_version', 'none')}, "
          f"cuDNN {build.get('cudnn_version', 'none')}; oneDNN CPU kernels {'on' if info['onednn'] else 'off'}")
    if args.require_gpu and not info["gpus"]:
        print("glue-repro: error: TensorFlow sees no GPU (check the driver, CUDA_VISIBLE_DEVICES and that "
              "tensorflow[and-cuda] is installed); refusing to run the GPU suite on the CPU", file=sys.stderr)
        return 1
    return 0


def data_command(args) -> int:
    import json

    from glue_repro import data

    described = data.describe(*data.load(args.task, args.data_dir))
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    source = described["source"]
    where = f"{source['location']} ({source['layout']} files)" if source["kind"] == "local" else (
        f"the Hub: {source['location']} at {source['revision']}")
    vouched = "every file matches SHA256SUMS" if source["checksums_verified"] else "no SHA256SUMS vouched for them"
    print(f"{described['task']} from {where}; {vouched}")
    for split, row in described["splits"].items():
        counts, scores = row.get("label_counts"), row.get("score_range")
        parts = [", ".join(f"{name} {n}" for name, n in counts.items())] if counts and any(counts.values()) else []
        parts += [f"scores {scores[0]:g}-{scores[1]:g}"] if scores else []
        parts += [f"{row['unlabelled']} unlabelled"] if row["unlabelled"] else []
        print(f"  {split:<22} {row['rows']:>6} rows  {', '.join(parts)}")
    return 0


def print_aggregate(summary: dict, path) -> None:
    names = list(summary["summary"])
    print(f"{'seed':>6}  " + "  ".join(f"{n:>10}" for n in names) + "  collapsed")
    for row in summary["per_seed"]:
        print(f"{row['seed']:>6}  " + "  ".join(f"{row[n]:>10.4f}" for n in names)
              + f"  {'yes' if row['collapsed'] else ''}")
    for name in names:
        s = summary["summary"][name]
        if s["n"] == 0:
            print(f"{name}: no healthy run")
        elif s["std"] is None:
            print(f"{name}: {s['mean']:.4f} (one healthy run)")
        else:
            print(f"{name}: mean {s['mean']:.4f} +- {s['std']:.4f} (std), 95% CI [{s['ci95_low']:.4f}, "
                  f"{s['ci95_high']:.4f}], min {s['min']:.4f}, max {s['max']:.4f}, n={s['n']}")
    print(f"collapsed runs: {summary['num_collapsed']} of {summary['num_runs']}")
    print(f"aggregate: {path}")


if __name__ == "__main__":
    sys.exit(main())
