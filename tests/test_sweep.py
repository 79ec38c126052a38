"""glue-repro sweep: the matrix, its plan, and real Ray clusters on loopback.

The cluster tests start real Ray processes: every one listens and connects on loopback only
(tests/ray_nodes.py watches their sockets), sends no usage statistics, shares one token, and
is stopped by pid at the end. The two-node test runs inside a network namespace of its own.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import hypothesis
import numpy as np
import pytest

from glue_repro import cli, data, sweep
from glue_repro.errors import GlueReproError
from glue_repro.tasks import TASKS
from tests.glue_files import write_glue_folder
from tests.ray_nodes import Started, Watch

REPO = Path(__file__).resolve().parents[1]


# --- the matrix, without Ray ---------------------------------------------------------------------

def test_cells_go_task_by_task_and_each_config_is_the_preset_with_the_sweeps_options():
    matrix = sweep.Matrix(("wnli", "mrpc"), ("tiny", "minilm"), (1, 2), {"epochs": 1}, cpus_per_run=2)
    cells = matrix.cells()
    assert [str(c) for c in cells[:3]] == ["wnli/tiny/seed 1", "wnli/tiny/seed 2", "wnli/minilm/seed 1"]
    assert len(cells) == 8 and cells[-1] == sweep.Cell("mrpc", "minilm", 2)
    config = matrix.config(cells[-1])
    assert (config.recipe.task, config.preset, config.seed, config.recipe.epochs) == ("mrpc", "minilm", 2, 1)
    assert config.speed.threads == 2 and config.speed.strategy == "default"
    assert sweep.Matrix(("rte",), ("tiny",), (1,), workers=2).config(sweep.Cell("rte", "tiny", 1)).speed.strategy \
        == "multiworker"
    assert sweep.Matrix(("rte",), ("tiny",), (1,)).config(sweep.Cell("rte", "tiny", 1)).speed.threads is None


def test_the_plan_is_one_run_command_a_cell_that_makes_the_same_config(capsys):
    assert cli.main(["sweep", "--plan", "--tasks", "wnli,stsb", "--presets", "tiny", "--seeds", "4-5", "--epochs",
                     "2", "--no-xla-optimizer", "--results-dir", "/tmp/r x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("glue-repro run --task wnli --preset tiny --seed 4")
    matrix = sweep.Matrix(("wnli", "stsb"), ("tiny",), (4, 5), {"epochs": 2, "xla_optimizer": False})
    import shlex

    for line, cell in zip(lines, matrix.cells(), strict=True):
        args = cli.parser().parse_args(shlex.split(line)[1:])
        assert args.results_dir == "/tmp/r x"
        assert cli.config_from(args) == matrix.config(cell)


def test_the_plan_writes_each_switch_as_given_and_a_results_folder_only_when_moved(capsys):
    from glue_repro import results

    base = ["sweep", "--plan", "--tasks", "rte", "--presets", "tiny", "--seeds", "1"]
    assert cli.main([*base, "--deterministic", "--no-xla-optimizer", "--results-dir", str(results.RUNS_DIR)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("--seed 1 --no-xla-optimizer --deterministic")  # the default folder is not repeated
    assert cli.main([*base, "--data-dir", "/data/glue", "--results-dir", "/r"]) == 0
    assert capsys.readouterr().out.strip().endswith("--seed 1 --data-dir /data/glue --results-dir /r")


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "mrcp"], "--tasks: unknown 'mrcp' (did you mean mrpc?); known: mrpc, sst2, cola, stsb, rte, wnli, "
                          "qqp, qnli, mnli"),
    (["--tasks", "xyzzy"], "--tasks: unknown 'xyzzy'; known: mrpc, sst2, cola, stsb, rte, wnli, qqp, qnli, mnli"),
    (["--presets", "minilm,tny"], "--presets: unknown 'tny' (did you mean tiny?)"),
    (["--tasks", ","], "--tasks: ',' names nothing"),
    (["--seeds", "2-1"], "--seeds: '2-1' holds no seed"),
    (["--workers", "0"], "--workers 0: must be >= 1"),
    (["--retries", "-1"], "--retries -1: must be >= 0"),
    (["--epochs", "0"], "--epochs 0: must be >= 1"),
])
def test_a_bad_matrix_is_one_line_before_any_work(argv, message, capsys):
    assert cli.main(["sweep", "--plan", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, message", [
    ("10.0.0.5", "give host:port"), ("ray://:10001", "give host:port"), ("127.0.0.1:70000", "give host:port"),
    ("127.0.0.1:{closed}", "nothing answers there"),
])
def test_an_address_without_a_cluster_is_one_line_at_once(address, message, glue_dir, tmp_path, capsys):
    address = address.format(closed=_closed_port())
    began = time.monotonic()
    code = cli.main(["sweep", "--tasks", "wnli", "--presets", "tiny", "--seeds", "1", "--address", address,
                     "--data-dir", str(glue_dir), "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"--address {address}: {message}" in err, err
    assert time.monotonic() - began < 5 and not list(tmp_path.iterdir())


def test_without_ray_the_sweep_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(GlueReproError,
                       match=r"^sweep needs Ray: pip install 'glue-repro\[ray\]' \(or 'ray\[train\]'\)$"):
        sweep.cluster(None).__enter__()


def test_a_bundle_loads_the_same_rows_with_the_same_checksums_elsewhere(glue_dir, tmp_path, monkeypatch):
    for name in ("mrpc", "cola"):
        shipped = data.bundle(name, glue_dir)
        assert any(f.endswith("SHA256SUMS") for f in shipped.files)
        here, source = data.load(name, glue_dir)
        there, moved = data.load(name, shipped.unpack(tmp_path / name))
        assert moved.sha256 == source.sha256 and moved.checksums_verified and source.checksums_verified
        assert shipped.origin == source.location and moved.location != source.location
        for split in here:
            assert there[split].to_list() == here[split].to_list()
    with pytest.raises(GlueReproError, match="no qqp files found"):  # before any cell runs, as load would
        data.bundle("qqp", glue_dir)
    monkeypatch.setenv("GLUE_DIR", str(glue_dir))
    assert data.bundle("mrpc").files == data.bundle("mrpc", glue_dir).files  # GLUE_DIR names the folder
    monkeypatch.delenv("GLUE_DIR", raising=False)
    assert data.bundle("qqp") is None  # no folder: each worker loads it from the Hub


def test_a_bundle_carries_the_sums_of_the_tasks_own_folder(tmp_path):
    from tests.glue_files import sha256sums, write_glue_folder

    task = write_glue_folder(tmp_path / "glue", ["qnli"]) / "QNLI"
    (task / "SHA256SUMS").write_text(sha256sums(task, sorted(p.name for p in task.glob("*.tsv"))))
    shipped = data.bundle("qnli", tmp_path / "glue")
    assert shipped.files["QNLI/SHA256SUMS"] == (task / "SHA256SUMS").read_bytes()
    assert data.load("qnli", shipped.unpack(tmp_path / "worker"))[1].checksums_verified


def test_progress_says_done_running_failed_left_and_the_time_left():
    lines = []
    progress = sweep.Progress(slots=2, log=lines.append)
    result = {"cell": {"node_ip": "127.0.0.1", "attempts": 2}, "metrics": {"accuracy": 0.5}, "collapsed": False,
              "wall_seconds": 600.0}
    progress.done(sweep.Cell("rte", "tiny", 1), result, "r.json")
    progress.failed(sweep.Cell("rte", "tiny", 2), "bad file")
    progress.tick(["rte", "rte", "cola"])
    assert lines == ["rte/tiny/seed 1: accuracy 0.5000 in 10 min 0 s on 127.0.0.1, try 2 -> r.json",
                     "rte/tiny/seed 2: failed: bad file",
                     "  1 done, 2 running, 1 failed, 1 waiting; about 15 min 0 s left"]
    progress.tick(["rte"], changed=False)  # nothing new since the last line
    assert len(lines) == 3
    collapsed = result | {"cell": {"node_ip": "10.0.0.2", "attempts": 1}, "collapsed": True, "wall_seconds": 1800.0,
                          "metrics": {"accuracy": 0.6838, "f1": 0.8122}}
    progress.done(sweep.Cell("cola", "tiny", 1), collapsed, "c.json")
    progress.failed(sweep.Cell("cola", "tiny", 2), "lost")
    progress.tick(["cola", "cola", "mrpc"])  # each cell left as its task's mean; a task not seen yet as the mean cell
    assert lines[3:] == ["cola/tiny/seed 1: accuracy 0.6838, f1 0.8122 (collapsed) in 30 min 0 s on 10.0.0.2 -> c.json",
                         "cola/tiny/seed 2: failed: lost",
                         "  2 done, 2 running, 2 failed, 1 waiting; about 40 min 0 s left"]  # (1800+1800+1200)/2


@hypothesis.given(hypothesis.strategies.floats(0, 400_000))
@hypothesis.example(59.5)
@hypothesis.example(60)
@hypothesis.example(3599.5)
@hypothesis.example(3600)
def test_a_duration_reads_back_as_its_seconds_in_the_largest_units_that_fit(seconds):
    text, whole = sweep._duration(seconds), round(seconds)
    numbers = [int(n) for n in text.split()[::2]]
    units = text.split()[1::2]
    assert units == (["s"] if whole < 60 else ["min", "s"] if whole < 3600 else ["h", "min"])
    assert all(n < 60 for n in numbers[1:]) and (whole >= 60 or numbers[0] < 60)
    read = sum(n * {"h": 3600, "min": 60, "s": 1}[u] for n, u in zip(numbers, units, strict=True))
    assert read == whole if whole < 3600 else 0 <= whole - read < 60


class _Nodes:
    """Stands in for the `ray` module where the sweep only asks it for the cluster's nodes."""

    def __init__(self, *cpus: int, dead: int = 0):
        self._nodes = [{"Alive": True, "Resources": {"CPU": float(c)}} for c in cpus]
        self._nodes += [{"Alive": False, "Resources": {"CPU": 64.0}}] * dead

    def nodes(self):
        return self._nodes


def test_a_cell_takes_a_whole_node_unless_told_and_runs_as_many_at_once_as_fit():
    matrix = sweep.Matrix(("mrpc",), ("tiny",), (1,))
    two = _Nodes(2, 4, dead=1)  # a lost node counts for nothing
    assert sweep.fitted(matrix, two).cpus_per_run == 4
    assert sweep.describe(two, sweep.fitted(matrix, two)) == "2 nodes (2, 4 CPUs), 4 CPUs a run: 1 at once"
    halves = sweep.Matrix(("mrpc",), ("tiny",), (1,), cpus_per_run=2)
    assert sweep.fitted(halves, two) == halves
    assert sweep.describe(two, halves) == "2 nodes (2, 4 CPUs), 2 CPUs a run: 3 at once"
    pairs = sweep.Matrix(("mrpc",), ("tiny",), (1,), cpus_per_run=1, workers=2)
    assert sweep.describe(_Nodes(3), pairs) == "1 node (3 CPUs), 1 CPU a run x 2 workers: 1 at once"
    with pytest.raises(GlueReproError, match=r"^--cpus-per-run 5: no node .* \(the largest has 4\)$"):
        sweep.fitted(sweep.Matrix(("mrpc",), ("tiny",), (1,), cpus_per_run=5), two)
    whole = sweep.Matrix(("mrpc",), ("tiny",), (1,), cpus_per_run=4)
    assert sweep.fitted(whole, two) == whole  # as large as the largest node: fits
    gpu_only = _Nodes(2)
    gpu_only._nodes.append({"Alive": True, "Resources": {"GPU": 1.0}})  # a node that offers no CPU
    assert sweep.node_cpus(gpu_only) == [2, 0]


def test_a_failed_cell_is_named_by_the_recipe_error_itself_else_the_first_line_of_rays():
    class RayTaskError(Exception):
        def __init__(self, cause):
            super().__init__("the whole traceback")
            self.cause = cause

    assert sweep._reason(RayTaskError(GlueReproError("train.tsv line 3: no label"))) == "train.tsv line 3: no label"
    assert sweep._reason(RayTaskError(ValueError("first line\nsecond"))) == "ValueError: first line"
    assert sweep._reason(OSError()) == "OSError:"


def test_finished_cells_are_the_sweeps_own_results_and_each_group_is_aggregated_once(tmp_path):
    from glue_repro import results
    from tests.test_multiseed import _result

    matrix = sweep.Matrix(("mrpc",), ("tiny",), (1, 2), changes={"limit": 24, "epochs": 1})
    runs, aggregates, lines = tmp_path / "runs", tmp_path / "aggregates", []
    for seed in (1, 2, 3):
        config = matrix.config(sweep.Cell("mrpc", "tiny", seed))
        result = _result(config) | {"cell": {"sweep": "s1"} if seed < 3 else None}  # seed 3: a plain run
        results.write_new(result, runs, results.run_stem(config))
    found = sweep.finished_cells(sweep.Matrix(("mrpc",), ("tiny",), (1, 2, 3), matrix.changes), runs)
    assert set(found) == {sweep.Cell("mrpc", "tiny", 1), sweep.Cell("mrpc", "tiny", 2)}
    rte = sweep.Matrix(("rte",), ("tiny",), (1,), matrix.changes).config(sweep.Cell("rte", "tiny", 1))
    results.write_new(_result(rte) | {"cell": {"sweep": "s1"}}, runs, results.run_stem(rte))
    both = sweep.finished_cells(sweep.Matrix(("mrpc", "rte"), ("tiny",), (1, 2), matrix.changes), runs)
    assert set(both) == set(found) | {sweep.Cell("rte", "tiny", 1)}  # every task's cells
    outcome = sweep.Outcome("s1", reused=found)
    [written] = sweep.write_aggregates(matrix, outcome, aggregates, lines.append)
    assert sweep.write_aggregates(matrix, outcome, aggregates, lines.append) == [written]  # not written twice
    assert len(list(aggregates.glob("*.json"))) == 1 and lines == []
    listed = results.listed_runs(written, results.load(written, "aggregate"))
    assert sorted(p.resolve() for p in listed) == sorted(Path(f).resolve() for _, f in found.values())
    three = sweep.Matrix(("mrpc",), ("tiny",), (1, 2, 3), changes={"limit": 24, "epochs": 1})
    assert sweep.write_aggregates(three, outcome, aggregates, lines.append) == []
    assert lines == ["mrpc/tiny: no aggregate (2 of 3 seeds finished)"]
    (aggregates / "0-broken.json").write_text("{")  # read first: unreadable, skipped
    shutil.copy(next(iter(found.values()))[1], aggregates / "1-a-run.json")  # a run, not an aggregate: skipped
    two = sweep.Matrix(("cola", "mrpc"), ("quick", "tiny"), (1, 2), changes={"limit": 24, "epochs": 1})
    assert sweep.write_aggregates(two, outcome, aggregates, lines.append) == [written]  # past unfinished groups
    assert lines[-3:] == ["cola/quick: no aggregate (0 of 2 seeds finished)",
                          "cola/tiny: no aggregate (0 of 2 seeds finished)",
                          "mrpc/quick: no aggregate (0 of 2 seeds finished)"]


class _LocalRay(_Nodes):
    """Stands in for `ray` where the sweep schedules cells: a submitted call runs in this process when the
    driver asks for its value; `wait` hands back the oldest submission first."""

    class Ref:
        def __init__(self, call):
            self.call = call

    def __init__(self, *cpus: int):
        super().__init__(*cpus)
        self.submitted, self.cancelled, self.running_most, self.waits = [], [], 0, 0
        self._pending = []

    def put(self, value):
        return ("stored", value)

    def remote(self, fn=None, **decorator):
        if fn is None:
            return lambda f: self.remote(f, **decorator)
        ray = self

        class Task:
            def options(self, **options):
                self.options_given = decorator | options
                return self

            def remote(self, *args):
                ray.submitted.append((fn.__name__, self.options_given, args))
                ref = ray.Ref(lambda: fn(*args))
                ray._pending.append(ref)
                ray.running_most = max(ray.running_most, len(ray._pending))
                return ref

        return Task()

    def wait(self, refs, num_returns, timeout):
        if not isinstance(num_returns, int) or not 1 <= num_returns <= len(refs):  # as Ray refuses it
            raise ValueError(f"num_returns {num_returns!r} for {len(refs)} objects")
        assert timeout is not None and 0 < timeout <= 1  # the driver sees Ctrl-C between waits
        self.waits += 1
        if self.waits % 2:  # every other wait ends at its timeout with nothing ready, as a running cell's would
            return [], list(refs)
        ready = [r for r in self._pending if r in refs][:num_returns]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref):
        self._pending.remove(ref)
        return ref.call()

    def cancel(self, ref, force):
        self.cancelled.append((ref, force))


class WorkerCrashedError(Exception):  # named as Ray names a lost worker process
    pass


def _cell_result(config: dict, sweep_id: str) -> dict:
    """What a cell's worker hands back: a result of the config, with where it ran."""
    from tests.test_multiseed import _result

    where = {"node_id": "n1", "node_ip": "127.0.0.1", "hostname": "h", "attempts": 1, "lost": [], "workers_at": None}
    return _result(sweep.from_dict(config)) | {"cell": {"sweep": sweep_id, **where}, "wall_seconds": 61.0}


def _cell_runs(tmp_path, monkeypatch, ray, outcomes: dict, **options):
    """_run_cells over MRPC seeds 1-3 of the tiny preset on the stand-in Ray, each cell's tries answered from
    `outcomes` (seed -> a list of None, for a result, or an exception to raise, one a try)."""

    matrix = sweep.fitted(sweep.Matrix(("mrpc",), ("tiny",), (1, 2, 3), changes={"limit": 24, "epochs": 1},
                                       **options), ray)
    tries = {seed: list(answers) for seed, answers in outcomes.items()}

    def run_cell(config, bundle, sweep_id, command):
        answer = tries[config["seed"]].pop(0)
        if answer is not None:
            raise answer
        return _cell_result(config, sweep_id)

    monkeypatch.setattr(sweep, "run_cell", run_cell)
    monkeypatch.setattr(sweep.data, "bundle", lambda task, folder: f"{task} files in {folder}")
    outcome, lines = sweep.Outcome("s1"), []
    try:
        sweep._run_cells(ray, matrix, matrix.cells(), outcome, tmp_path / "runs", "glue", lines.append, ["glue-repro"])
    finally:
        ray.lines, ray.tries = lines, tries
    return outcome


def _seeds(ray) -> list[int]:
    return [args[0]["seed"] for _, _, args in ray.submitted]


def test_cells_start_in_order_as_slots_free_and_each_result_is_written_with_its_tries(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "FORWARDED_ENV", ("GLUE_REPRO_TEST_VAR",))
    monkeypatch.setenv("GLUE_REPRO_TEST_VAR", "forwarded")
    ray = _LocalRay(2)
    outcome = _cell_runs(tmp_path, monkeypatch, ray, {1: [None], 2: [None], 3: [None]}, cpus_per_run=1)
    assert _seeds(ray) == [1, 2, 3] and ray.running_most == 2  # two slots of 1 CPU on a 2-CPU node
    name, options, (config, bundle, sweep_id, command) = ray.submitted[0]
    assert name == "run_cell" and bundle == ("stored", "mrpc files in glue") and (sweep_id, command) == (
        "s1", ["glue-repro"])
    assert config == sweep.Matrix(("mrpc",), ("tiny",), (1,), changes={"limit": 24, "epochs": 1},
                                  cpus_per_run=1).config(sweep.Cell("mrpc", "tiny", 1)).to_dict()
    assert options == {"max_calls": 1, "num_cpus": 1, "num_gpus": 0, "max_retries": 0,
                       "runtime_env": {"env_vars": {"GLUE_REPRO_TEST_VAR": "forwarded"}}}
    assert sorted(c.seed for c in outcome.written) == [1, 2, 3] and not outcome.failed
    for cell, (result, path) in outcome.written.items():
        assert (result["cell"]["attempts"], result["cell"]["lost"]) == (1, [])
        assert json.loads(Path(path).read_text())["seed"] == cell.seed
        assert any(line.startswith(f"{cell}: ") and line.endswith(f" -> {path}") for line in ray.lines)
    assert [line for line in ray.lines if line.startswith("  ")] == [  # a line as each cell ends, while any is left
        "  1 done, 2 running, 0 failed, 0 waiting; about 1 min 1 s left",
        "  2 done, 1 running, 0 failed, 0 waiting; about 30 s left"]


def test_a_lost_cell_runs_again_first_up_to_the_retries_and_a_recipe_error_fails_once(tmp_path, monkeypatch):
    lost = WorkerCrashedError("the worker died\nmore")
    ray = _LocalRay(2)
    outcome = _cell_runs(tmp_path, monkeypatch, ray, {1: [lost, None], 2: [GlueReproError("no label"), None],
                                                      3: [lost, lost, lost]}, retries=1)
    assert _seeds(ray) == [1, 1, 2, 3, 3]  # a lost cell goes first again
    first = outcome.written[sweep.Cell("mrpc", "tiny", 1)][0]["cell"]
    assert (first["attempts"], first["lost"]) == (2, ["WorkerCrashedError: the worker died"])
    assert json.loads(outcome.written[sweep.Cell("mrpc", "tiny", 1)][1].read_text())["cell"]["attempts"] == 2
    assert outcome.failed == {sweep.Cell("mrpc", "tiny", 2): "no label",
                              sweep.Cell("mrpc", "tiny", 3): "WorkerCrashedError: the worker died"}
    assert ray.tries == {1: [], 2: [None], 3: [lost]}  # the recipe error is not retried; seed 3 stops at 1 retry
    assert ray.running_most == 1  # a cell takes the whole node, after a loss too
    assert "mrpc/tiny/seed 2: failed: no label" in ray.lines
    assert "mrpc/tiny/seed 3: failed: WorkerCrashedError: the worker died" in ray.lines
    assert "mrpc/tiny/seed 1: lost (WorkerCrashedError: the worker died); running it again (try 2 of 2)" in ray.lines


def test_ctrl_c_cancels_every_running_cell_and_keeps_what_finished(tmp_path, monkeypatch):
    ray = _LocalRay(3)
    with pytest.raises(sweep.Interrupted) as stopped:
        _cell_runs(tmp_path, monkeypatch, ray, {1: [None], 2: [KeyboardInterrupt()], 3: [None]}, cpus_per_run=1)
    assert list(stopped.value.outcome.written) == [sweep.Cell("mrpc", "tiny", 1)]
    assert [(ref.call, force) for ref, force in ray.cancelled] == [(ray._pending[0].call, True)]  # seed 3's


class _FakeRayModule:
    """The `ray` module as `cluster` uses it: init (recorded, or refused) and shutdown."""

    def __init__(self, refuse: bool = False):
        self.inits, self.shutdowns, self.refuse = [], 0, refuse

    def init(self, **kwargs):
        self.inits.append((kwargs, {k: os.environ.get(k) for k in (*sweep.LOCAL_ENV, "RAY_USAGE_STATS_ENABLED")}))
        if self.refuse:
            raise ConnectionError("could not find any running Ray instance")

    def shutdown(self):
        self.shutdowns += 1


@pytest.mark.parametrize(("options", "worker_logs"), [({}, False), ({"worker_logs": True}, True)])
def test_the_local_cluster_starts_on_loopback_with_no_statistics_and_token_auth_and_stops(options, worker_logs,
                                                                                           monkeypatch):
    for name in (*sweep.LOCAL_ENV, "RAY_USAGE_STATS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    fake = _FakeRayModule()
    monkeypatch.setitem(sys.modules, "ray", fake)
    with sweep.cluster(None, **options) as ray:
        assert ray is fake and fake.shutdowns == 0
    [(kwargs, env)] = fake.inits
    assert kwargs == {"address": "local", "log_to_driver": worker_logs, "logging_level": "ERROR",
                      "configure_logging": True, "_node_ip_address": "127.0.0.1", "include_dashboard": False}
    assert env == {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    assert fake.shutdowns == 1


def test_joining_a_cluster_checks_the_address_first_and_a_refusal_is_one_line(monkeypatch):
    for name in (*sweep.LOCAL_ENV, "RAY_USAGE_STATS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    checked = []
    monkeypatch.setattr(sweep, "reachable", checked.append)
    fake = _FakeRayModule()
    monkeypatch.setitem(sys.modules, "ray", fake)
    with sweep.cluster("10.0.0.5:6379"):
        pass
    [(kwargs, env)] = fake.inits
    assert checked == ["10.0.0.5:6379"] and kwargs["address"] == "10.0.0.5:6379"
    assert "_node_ip_address" not in kwargs and "include_dashboard" not in kwargs  # the cluster's own settings
    assert env == {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": None, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": None}
    with sweep.cluster("auto"):  # Ray finds the local cluster itself: nothing to check
        pass
    assert checked == ["10.0.0.5:6379"]
    monkeypatch.setitem(sys.modules, "ray", _FakeRayModule(refuse=True))
    with pytest.raises(GlueReproError, match=r"^--address 10.0.0.5:6379: no Ray cluster there \(could not find"):
        sweep.cluster("10.0.0.5:6379").__enter__()


def test_an_address_where_nothing_listens_is_one_line(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed
    with pytest.raises(GlueReproError, match=rf"^--address 127.0.0.1:{port}: nothing answers there \(.*\); is the "
                                             r"head node started \(ray start --head\)\?$"):
        sweep.reachable(f"127.0.0.1:{port}", timeout=2)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        sweep.reachable(f"ray://127.0.0.1:{listening.getsockname()[1]}")  # answers: no error
    for bad in ("host:0", "host:65536", "host:x", ":6379"):
        with pytest.raises(GlueReproError, match="give host:port"):
            sweep.reachable(bad)


def test_an_address_is_split_at_its_last_colon_and_tried_without_brackets_within_five_seconds(monkeypatch):
    tried = []

    def refuse(address, timeout):
        tried.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(sweep.socket, "create_connection", refuse)
    for address, host, port in (("[::1]:6379", "::1", 6379), ("ray://head:1", "head", 1), ("XNODE:7", "XNODE", 7)):
        with pytest.raises(GlueReproError) as refused:
            sweep.reachable(address)
        assert str(refused.value) == (f"--address {address}: nothing answers there (Connection refused); "
                                      "is the head node started (ray start --head)?")
        assert tried.pop() == ((host, port), 5.0)


def _sweep_run(tmp_path, monkeypatch, answers=None, **options):
    """sweep.run over MRPC seeds 1-3 of the tiny preset, on the stand-in Ray (None: no cluster may start)."""
    from contextlib import contextmanager

    ray, lines = _LocalRay(2), []
    ray.handlers, ray.commands, ray.bundles = [], [], []

    @contextmanager
    def cluster(address, worker_logs):
        assert (address, worker_logs) == (None, False)
        ray.entered = True
        yield ray

    def run_cell(config, bundle, sweep_id, command):
        ray.commands.append(command)
        ray.bundles.append(bundle)
        if answers and answers.get(config["seed"]):
            raise answers[config["seed"]]
        return _cell_result(config, sweep_id)

    monkeypatch.setattr(sweep, "cluster", cluster)
    monkeypatch.setattr(sweep, "run_cell", run_cell)
    monkeypatch.setattr(sweep.data, "bundle", lambda task, folder: f"{task} files in {folder}")
    monkeypatch.setattr(sweep.signal, "signal", lambda *args: ray.handlers.append(args))  # the process keeps its own
    matrix = sweep.Matrix(("mrpc",), ("tiny",), (1, 2, 3), changes={"limit": 24, "epochs": 1})
    outcome = sweep.run(matrix, tmp_path / "runs", tmp_path / "aggregates", log=lines.append, **options)
    return outcome, lines, ray


def test_a_sweep_runs_its_cells_then_aggregates_and_a_resume_reuses_them_without_a_cluster(tmp_path, monkeypatch):
    import itertools

    seconds = itertools.count()  # a new second for every file name: a rerun never takes the name of a deleted run
    monkeypatch.setattr(sweep.results, "timestamp", lambda: f"20261204-00{next(seconds):04d}")
    first, lines, ray = _sweep_run(tmp_path, monkeypatch, command=["glue-repro", "sweep"], data_dir="glue")
    assert first.sweep == "20261204-000000"  # the sweep's id: when it started
    assert lines[0] == "sweep 20261204-000000: 3 cells to run on 1 node (2 CPUs), 2 CPUs a run: 1 at once"
    assert sorted(c.seed for c in first.written) == [1, 2, 3] and len(first.aggregates) == 1
    assert ray.handlers == [(signal.SIGTERM, sweep._interrupt)] and ray.commands == [["glue-repro", "sweep"]] * 3
    assert ray.bundles == [("stored", "mrpc files in glue")] * 3
    again, lines, ray = _sweep_run(tmp_path, monkeypatch, resume=True)
    assert not hasattr(ray, "entered") and not again.written  # nothing to run: no cluster
    assert again.sweep == first.sweep and again.aggregates == first.aggregates  # no second aggregate
    assert [line.split(": reusing ")[0] for line in lines] == [f"mrpc/tiny/seed {s}" for s in (1, 2, 3)]
    assert len(list((tmp_path / "aggregates").glob("*.json"))) == 1
    seed2 = again.reused[sweep.Cell("mrpc", "tiny", 2)][1]
    Path(seed2).unlink()
    third, lines, ray = _sweep_run(tmp_path, monkeypatch, resume=True)
    assert list(third.written) == [sweep.Cell("mrpc", "tiny", 2)] and third.sweep == first.sweep
    assert len(third.aggregates) == 1 and len(list((tmp_path / "aggregates").glob("*.json"))) == 2
    fresh, lines, ray = _sweep_run(tmp_path, monkeypatch)  # without --resume: every cell runs again
    assert sorted(c.seed for c in fresh.written) == [1, 2, 3] and not fresh.reused and fresh.sweep != first.sweep


def test_a_resumed_sweep_with_nothing_to_reuse_keeps_its_own_id_and_a_failed_cell_leaves_its_group_unaggregated(
        tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.results, "timestamp", lambda: "20261204-010203")
    outcome, lines, ray = _sweep_run(tmp_path, monkeypatch, answers={2: GlueReproError("no label")}, resume=True)
    assert outcome.sweep == "20261204-010203" and not outcome.reused
    assert sorted(c.seed for c in outcome.written) == [1, 3] and outcome.aggregates == []
    assert lines[-1] == "mrpc/tiny: no aggregate (2 of 3 seeds finished)"


def test_an_interrupted_sweep_still_aggregates_the_groups_that_finished(tmp_path, monkeypatch):
    with pytest.raises(sweep.Interrupted) as stopped:
        _sweep_run(tmp_path, monkeypatch, answers={3: KeyboardInterrupt()})
    assert sorted(c.seed for c in stopped.value.outcome.written) == [1, 2]
    assert stopped.value.outcome.aggregates == []  # seed 3 never finished: no aggregate of the group
    assert not list((tmp_path / "aggregates").glob("*.json"))


def _ray_worker(monkeypatch, node_id="node-7"):
    """What a cell asks of Ray inside its worker process: where it runs."""
    from types import SimpleNamespace

    fake = SimpleNamespace(get_runtime_context=lambda: SimpleNamespace(get_node_id=lambda: node_id),
                           util=SimpleNamespace(get_node_ip_address=lambda: "127.0.0.1"))
    monkeypatch.setitem(sys.modules, "ray", fake)


def test_a_cell_runs_the_recipe_on_the_shipped_files_and_says_where_it_ran(glue_dir, tmp_path, monkeypatch):
    _ray_worker(monkeypatch)
    matrix = sweep.Matrix(("rte",), ("tiny",), (4,), changes={"limit": 16, "epochs": 1, "deterministic": True})
    config = matrix.config(sweep.Cell("rte", "tiny", 4))
    bundle = data.bundle("rte", glue_dir)
    result = sweep.run_cell(config.to_dict(), bundle, "s9", ["glue-repro", "sweep"])
    assert result["cell"] == {"sweep": "s9", "node_id": "node-7", "node_ip": "127.0.0.1",
                              "hostname": socket.gethostname(), "attempts": 1, "lost": [], "workers_at": None}
    assert result["data"]["location"] == bundle.origin == str((glue_dir / "RTE").resolve())
    assert result["command"] == ["glue-repro", "sweep"] and result["seed"] == 4
    assert result["data"]["sha256"] == data.load("rte", glue_dir)[1].sha256 and result["data"]["checksums_verified"]
    assert len(result["predictions"]) == 16 and result["config"] == config.to_dict()  # the costly test: = a run


def test_each_ray_train_worker_runs_the_cell_and_only_the_chief_hands_back_its_result(monkeypatch):
    handed = []
    inbox = type("Inbox", (), {"put": type("Put", (), {"remote": staticmethod(lambda r: handed.append(r) or r)})})
    monkeypatch.setitem(sys.modules, "ray", type("Ray", (), {"get": staticmethod(lambda ref: ref)}))
    workers = ["127.0.0.1:1", "127.0.0.1:2"]
    for index, answer in ((1, None), (0, {"cell": {"workers_at": None}})):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": workers},
                                                    "task": {"type": "worker", "index": index}}))
        asked = []
        monkeypatch.setattr(sweep, "run_cell", lambda *args, answer=answer, asked=asked: asked.append(args) or answer)
        sweep._train_loop({"config": {"seed": 1}, "bundle": "b", "sweep": "s", "command": ["c"], "inbox": inbox})
        assert asked == [({"seed": 1}, "b", "s", ["c"])]
    assert handed == [{"cell": {"workers_at": workers}}]


def test_a_multi_worker_cell_is_one_ray_task_that_takes_no_cpu_and_hands_ray_train_the_matrix_resources(tmp_path,
                                                                                                       monkeypatch):
    matrix = sweep.Matrix(("mrpc",), ("tiny",), (1,), cpus_per_run=1, workers=2, gpus_per_run=0.5, retries=3)
    ray = _LocalRay(2)
    start = sweep.CellStarter(ray, matrix, "s1", {"mrpc": "bundle"}, ["glue-repro"])
    start(sweep.Cell("mrpc", "tiny", 1))
    [(name, options, args)] = ray.submitted
    assert name == "train_cell" and options["num_cpus"] == 0 and options["max_retries"] == 0  # its workers hold them
    assert set(options) == {"num_cpus", "max_retries", "runtime_env"} and "env_vars" in options["runtime_env"]
    config = matrix.config(sweep.Cell("mrpc", "tiny", 1)).to_dict()
    assert args == (config, "bundle", "s1", ["glue-repro"], 2, 1, 0.5, 3)


def test_an_inbox_holds_nothing_until_the_chief_puts_its_result():
    inbox = sweep.Inbox()
    assert inbox.take() is None
    inbox.put({"kind": "run"})
    assert inbox.take() == {"kind": "run"}


@pytest.mark.parametrize(("gpus", "handed"), [(0, {"kind": "run"}), (0.5, None)])
def test_a_multi_worker_cell_asks_ray_train_for_its_workers_and_takes_the_chiefs_result(gpus, handed, monkeypatch):
    """Ray Train stand-ins: the scaling, the failure budget and where it stores; the chief's result comes back
    through the inbox, and a run that ends without one is one line."""
    import sys
    import types

    made = {}

    class Remote:  # ray.remote(Inbox).options(...).remote(): an inbox whose take hands back `handed`
        def __init__(self, cls):
            made["inbox_class"] = cls

        def options(self, **kwargs):
            made["inbox_options"] = kwargs
            return self

        def remote(self):
            return types.SimpleNamespace(take=types.SimpleNamespace(remote=lambda: "ref"))

    class Trainer:
        def __init__(self, loop, train_loop_config, scaling_config, run_config):
            made.update(loop=loop, loop_config=train_loop_config, scaling=scaling_config, run=run_config)

        def fit(self):
            made["fitted"] = True

    ray = types.SimpleNamespace(remote=Remote, get=lambda ref: handed if ref == "ref" else None)
    train = types.ModuleType("ray.train")
    train.ScalingConfig = lambda **kwargs: kwargs
    train.RunConfig = lambda **kwargs: kwargs
    train.FailureConfig = lambda **kwargs: kwargs
    tensorflow = types.ModuleType("ray.train.tensorflow")
    tensorflow.TensorflowTrainer = Trainer
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.train", train)
    monkeypatch.setitem(sys.modules, "ray.train.tensorflow", tensorflow)
    args = ({"seed": 1}, "bundle", "s1", ["glue-repro", "sweep"], 2, 3, gpus, 4)
    if handed is None:
        with pytest.raises(GlueReproError, match="^the multi-worker run ended without its chief's result$"):
            sweep.train_cell(*args)
    else:
        assert sweep.train_cell(*args) == handed
    assert made["inbox_class"] is sweep.Inbox and made["inbox_options"] == {"num_cpus": 0} and made["fitted"]
    assert made["loop"] is sweep._train_loop
    assert {k: v for k, v in made["loop_config"].items() if k != "inbox"} == {
        "config": {"seed": 1}, "bundle": "bundle", "sweep": "s1", "command": ["glue-repro", "sweep"]}
    assert made["scaling"] == {"num_workers": 2, "use_gpu": bool(gpus),
                               "resources_per_worker": {"CPU": 3} | ({"GPU": gpus} if gpus else {})}
    assert made["run"]["name"] == "glue-repro-s1" and made["run"]["failure_config"] == {"max_failures": 4}
    assert Path(made["run"]["storage_path"]).name.startswith("glue-repro-train-")


# --- real clusters -------------------------------------------------------------------------------

def ray_env(tmp: str) -> dict:
    """What every Ray process of a test gets: no usage statistics, one token, its own temp folder."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_TMPDIR": tmp, "GLUE_DIR": os.environ.get("GLUE_DIR", "")}


@pytest.fixture
def ray_tmp():
    """A short temp folder for Ray's sessions (its socket paths must stay under 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def sweep_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "glue_repro.cli", "sweep", *argv]


def _runs(folder: Path) -> dict:
    return {p: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def _same_as_plain_run(result: dict, launcher, glue_dir, tmp_path, *argv):
    """A plain `glue-repro run` of the cell gives the same predictions, logits within float32 noise."""
    out = tmp_path / f"plain-{result['task']}-{result['seed']}"
    done = launcher.run(["run", "--task", result["task"], "--preset", "tiny", "--seed", str(result["seed"]), *argv,
                         "--data-dir", str(glue_dir), "--results-dir", str(out), "--quiet"], tmp_path / "io")
    assert done.returncode == 0, done.stderr[-2000:]
    (plain,) = _runs(out).values()
    assert result["predictions"] == plain["predictions"]
    np.testing.assert_allclose(result["logits"], plain["logits"], atol=1e-5, rtol=0)
    assert result["data"]["sha256"] == plain["data"]["sha256"]


def _in_namespace() -> bool:
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.costly
def test_a_two_node_cluster_runs_a_sweep_on_loopback(glue_dir, tmp_path, ray_tmp, launcher):
    runs, env = tmp_path / "runs", ray_env(ray_tmp)
    argv = ["--tasks", "wnli,mrpc", "--presets", "tiny", "--seeds", "1-2", "--epochs", "1", "--data-dir",
            str(glue_dir), "--results-dir", str(runs)]
    if _in_namespace():
        seen = _in_namespace_cluster(argv, env, tmp_path, nodes=2, cpus=1)
    else:
        warnings.warn("no network namespace here (unshare -n): the sweep runs on one local node, on loopback",
                      stacklevel=1)
        seen = _one_node(argv, env, tmp_path)
    assert seen["returncode"] == 0, seen["stderr"][-3000:]
    assert seen["sockets"] > 10 and not seen["elsewhere"] and not seen["wildcard"], seen
    results = _runs(runs)
    assert len(results) == 4 and len(list((runs / "aggregates").glob("*.json"))) == 2
    assert {r["cell"]["node_ip"] for r in results.values()} == {"127.0.0.1"}
    assert len({r["cell"]["node_id"] for r in results.values()}) == seen["nodes"]  # one CPU a node: all ran cells
    assert all(r["cell"]["attempts"] == 1 and r["config"]["speed"]["threads"] == 1 for r in results.values())
    assert "\ntiny " in seen["stdout"] and "published" in seen["stdout"]  # the GLUE table
    for result in results.values():
        _same_as_plain_run(result, launcher, glue_dir, tmp_path, "--epochs", "1", "--threads", "1")


def _in_namespace_cluster(argv, env, tmp_path, nodes: int, cpus: int) -> dict:
    """The sweep against a cluster of `nodes`, all inside a new network namespace (loopback only)."""
    report = tmp_path / "cluster.json"
    helper = [sys.executable, str(REPO / "tests" / "ray_nodes.py"), "--nodes", str(nodes), "--cpus", str(cpus),
              "--out", str(report), "--", *sweep_cmd(*argv)]
    done = subprocess.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "-", *helper],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(report.read_text())
    assert seen["interfaces"] == ["lo"] and seen["left"] == []
    return seen | {"nodes": nodes}


def _one_node(argv, env, tmp_path) -> dict:
    """The sweep on the local one-node cluster it starts itself."""
    started = Started()
    driver = _start([*argv, "--cpus-per-run", "1"], env, tmp_path / "sweep.log")
    watch = Watch(driver.pid)
    try:
        code = driver.wait(timeout=600)
    finally:
        watch.stop()
        started.stop()
    text = (tmp_path / "sweep.log").read_text()
    return {"returncode": code, "stdout": text, "stderr": text, "sockets": watch.sockets,
            "elsewhere": sorted(watch.elsewhere), "wildcard": sorted(watch.wildcard), "nodes": 1}


def _tiny_wnli(glue_dir, runs: Path, seeds: str, epochs: int) -> list[str]:
    """A sweep of WNLI (635 training rows) with the tiny model: seconds a cell, most of it start-up."""
    return ["--tasks", "wnli", "--presets", "tiny", "--seeds", seeds, "--epochs", str(epochs), "--data-dir",
            str(glue_dir), "--results-dir", str(runs)]


def _start(argv, env, log: Path) -> subprocess.Popen:
    """The sweep as a user starts it: SIGINT at its default (pytest-xdist's workers ignore it, and a
    child inherits that, so Ctrl-C would never reach it)."""
    return subprocess.Popen(sweep_cmd(*argv), env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _running_cell(started: Started):
    """The pid of the driver's Ray worker process while it runs a cell (Ray names it after the task)."""
    for p in started.processes():
        try:
            if p.cmdline()[:1] and p.cmdline()[0].startswith("ray::run_cell"):
                return p.pid
        except Exception:  # noqa: BLE001 - gone meanwhile
            continue
    return None


@pytest.mark.costly
def test_a_killed_worker_process_runs_its_cell_again_and_the_sweep_completes(glue_dir, tmp_path, ray_tmp):
    started = Started()
    runs, log = tmp_path / "runs", tmp_path / "sweep.log"
    driver = _start(_tiny_wnli(glue_dir, runs, seeds="1", epochs=3), ray_env(ray_tmp), log)
    watch = Watch(driver.pid)
    try:
        victim = _wait_for(lambda: _running_cell(started), 120, "a cell to start")
        time.sleep(3)  # into TensorFlow's start or training
        os.kill(victim, signal.SIGKILL)
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        watch.stop()
        started.stop()
    (result,) = _runs(runs).values()
    assert result["cell"]["attempts"] == 2 and len(result["cell"]["lost"]) == 1, result["cell"]
    assert "lost (" in log.read_text() and "running it again (try 2 of 3)" in log.read_text()
    assert watch.sockets > 10 and not watch.elsewhere and not watch.wildcard, (watch.elsewhere, watch.wildcard)


@pytest.mark.costly
def test_a_killed_driver_resumes_reusing_every_finished_cell(glue_dir, tmp_path, ray_tmp):
    started = Started()
    runs, env = tmp_path / "runs", ray_env(ray_tmp)
    argv = _tiny_wnli(glue_dir, runs, seeds="1-3", epochs=1)
    first = _start(argv, env, tmp_path / "first.log")
    try:
        _wait_for(lambda: list(runs.glob("*.json")), 180, "a first cell's result")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        started.stop()  # the killed driver's cluster
    finished = sorted(runs.glob("*.json"))
    assert 1 <= len(finished) < 3 and not list(runs.glob(".*.tmp"))  # nothing half-written
    again = subprocess.run(sweep_cmd(*argv, "--resume"), env=env, cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    started.stop()
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reusing") + again.stderr.count("reusing") == len(finished)
    results = _runs(runs)
    assert len(results) == 3 and set(finished) <= set(results)  # the finished cells were not run again
    (aggregate,) = (runs / "aggregates").glob("*.json")
    listed = {(runs / "aggregates" / f).resolve() for f in json.loads(aggregate.read_text())["files"]}
    assert listed == {p.resolve() for p in results}
    assert len({r["cell"]["sweep"] for r in results.values()}) == 1  # the resumed sweep keeps its id
    once_more = subprocess.run(sweep_cmd(*argv, "--resume"), env=env, cwd=REPO, capture_output=True, text=True,
                               timeout=300)  # every cell reused: no cluster, no second aggregate
    assert once_more.returncode == 0 and once_more.stdout.count("reusing") == 3, once_more.stderr[-2000:]
    assert list((runs / "aggregates").glob("*.json")) == [aggregate] and f"aggregate: {aggregate}" in once_more.stdout


@pytest.mark.costly
def test_a_two_worker_cell_through_ray_train_matches_two_tf_config_processes(glue_dir, tmp_path, ray_tmp,
                                                                               isolated_launcher):
    from tests.test_distribute import STEPS, _result, _workers

    runs = tmp_path / "runs"
    argv = ["--tasks", "mrpc", "--presets", "tiny", "--seeds", "3", "--limit", "32", "--epochs", "2",
            "--learning-rate", "1e-3", "--deterministic",  # STEPS, the two-process test's
            "--workers", "2", "--cpus-per-run", "1", "--data-dir", str(glue_dir), "--results-dir", str(runs)]
    assert " ".join(STEPS).startswith("--preset tiny --limit 32 --epochs 2 --seed 3 --learning-rate 1e-3 --determ")
    # TensorFlow's collective server listens on every interface whatever TF_CONFIG names: in a namespace
    # whose one interface is loopback, that is loopback.
    if not _in_namespace():
        pytest.fail("cannot create a network namespace (unshare -n): TensorFlow's workers would listen on every "
                    "interface")
    seen = _in_namespace_cluster(argv, ray_env(ray_tmp), tmp_path, nodes=1, cpus=2)
    assert seen["returncode"] == 0, seen["stderr"][-3000:]
    assert seen["sockets"] > 10 and not seen["elsewhere"], seen["elsewhere"]
    (result,) = _runs(runs).values()
    assert result["distribution"]["workers"] == 2 and result["distribution"]["replicas"] == 2
    workers_at = result["cell"]["workers_at"]  # the TF_CONFIG Ray Train gave the workers
    assert len(workers_at) == 2 and all(a.startswith("127.0.0.1:") for a in workers_at)

    plain = tmp_path / "plain"
    procs, logs = _workers(isolated_launcher, ["run", *STEPS, "--strategy", "multiworker", "--data-dir",
                                               str(glue_dir), "--results-dir", str(plain)], tmp_path)
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [log.read_text()[-2000:] for log in logs]
    want = _result(plain)
    np.testing.assert_allclose(result["logits"], want["logits"], atol=1e-5, rtol=0)
    assert result["predictions"] == want["predictions"]


@pytest.mark.costly
def test_ctrl_c_stops_the_cluster_lists_what_finished_and_how_to_resume(glue_dir, tmp_path, ray_tmp):
    started = Started()
    runs, log = tmp_path / "runs", tmp_path / "sweep.log"
    driver = _start(_tiny_wnli(glue_dir, runs, seeds="1-3", epochs=1), ray_env(ray_tmp), log)
    try:
        _wait_for(lambda: list(runs.glob("*.json")), 180, "a first cell's result")
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=60) == 130
        text = log.read_text()
        finished = sorted(runs.glob("*.json"))
        assert f"interrupted; {len(finished)} of 3 cells finished" in text, text[-2000:]
        assert all(str(path) in text for path in finished) and "--resume" in text
        assert "Traceback" not in text
        _wait_for(lambda: not started.living(), 30, "the driver's Ray processes to end")
    finally:
        started.stop()


def test_without_tasks_the_sweep_takes_every_task_the_data_folder_holds(glue_dir, tmp_path, capsys):
    assert cli.main(["sweep", "--plan", "--seeds", "1", "--data-dir", str(glue_dir)]) == 0
    tasks = [line.split()[3] for line in capsys.readouterr().out.splitlines()]
    assert tasks == ["mrpc", "sst2", "cola", "stsb", "rte", "wnli"]  # the shared folder has no QQP, QNLI, MNLI
    write_glue_folder(tmp_path, ["qnli"])
    assert data.local_tasks(tmp_path) == ["qnli"]
    assert cli.main(["sweep", "--plan", "--seeds", "1", "--data-dir", str(tmp_path / "QNLI" / "..")]) == 0
    assert capsys.readouterr().out.split()[3] == "qnli"
    assert cli.main(["sweep", "--plan", "--data-dir", str(tmp_path / "QNLI")]) == 2  # a task's folder: not a GLUE one
    assert "no GLUE task's files in this folder" in capsys.readouterr().err


def test_without_tasks_or_a_data_dir_the_sweep_takes_the_tasks_of_glue_dir_else_all_nine(tmp_path, monkeypatch,
                                                                                          capsys):
    def planned(*argv):
        assert cli.main(["sweep", "--plan", "--seeds", "1", *argv]) == 0
        return [line.split()[3] for line in capsys.readouterr().out.splitlines()]

    monkeypatch.setenv("GLUE_DIR", str(write_glue_folder(tmp_path, ["qnli"])))
    assert planned() == ["qnli"]
    assert planned("--tasks", "all") == list(TASKS)
    monkeypatch.delenv("GLUE_DIR")
    assert planned() == list(TASKS)  # no folder: every task, from the Hub


@pytest.mark.costly
def test_a_sweep_over_all_nine_tasks_offline_scores_each_on_its_splits(glue_dir, tmp_path, ray_tmp):
    """The six shared tasks and QQP, QNLI and MNLI (small folders) in one GLUE folder, one tiny cell each."""
    from tests.glue_files import write_glue_folder

    glue = write_glue_folder(tmp_path / "glue")
    for folder in ("MRPC", "SST-2", "CoLA", "STS-B", "RTE", "WNLI"):
        (glue / folder).symlink_to(glue_dir / folder)
    (glue / "SHA256SUMS").symlink_to(glue_dir / "SHA256SUMS")
    runs = tmp_path / "runs"
    done = subprocess.run(sweep_cmd("--presets", "tiny", "--seeds", "1", "--limit", "12", "--epochs", "1",
                                    "--data-dir", str(glue), "--results-dir", str(runs)),
                          env=ray_env(ray_tmp), cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    results = _runs(runs)
    assert sorted(r["task"] for r in results.values()) == sorted(data.local_tasks(glue)) and len(results) == 9
    for result in results.values():  # each task scored on each of its validation splits, with its metrics
        spec = TASKS[result["task"]]
        assert list(result["metrics_by_split"]) == list(spec.validation_splits)
        assert all(list(m) == list(spec.metrics) for m in result["metrics_by_split"].values())
    assert "mnli mismatched" in done.stdout and "qqp" in done.stdout  # the GLUE table it printed has every column


def test_the_sweep_command_hands_its_matrix_to_the_sweep_and_prints_the_table_and_failures(tmp_path, monkeypatch,
                                                                                           capsys):
    from tests.test_multiseed import _result

    asked = {}

    def run(matrix, runs_dir, aggregates_dir, data_dir, address, resume, worker_logs, command):
        asked.update(matrix=matrix, runs_dir=runs_dir, aggregates_dir=aggregates_dir, data_dir=data_dir,
                     address=address, resume=resume, worker_logs=worker_logs, command=command)
        outcome = sweep.Outcome("s1")
        for cell in matrix.cells()[:2]:
            result = _result(matrix.config(cell), accuracy=0.5 + cell.seed / 10)
            result |= {"device": {"gpus": []}, "partial_data": False, "created": "2026-12-04T00:00:00+00:00",
                       "metrics_by_split": {"validation": result["metrics"]}}
            outcome.written[cell] = (result, tmp_path / f"{cell.seed}.json")
        outcome.failed[matrix.cells()[2]] = "train.tsv line 3: no label"
        outcome.aggregates = [tmp_path / "agg.json"]
        return outcome

    monkeypatch.setattr(sweep, "run", run)
    monkeypatch.setattr(sys, "argv", ["glue-repro", "sweep", "--the-command-line"])
    (tmp_path / "GLUE").mkdir()
    code = cli.main(["sweep", "--tasks", "mrpc", "--presets", "tiny", "--seeds", "1-3", "--epochs", "1",
                     "--cpus-per-run", "1", "--retries", "3", "--address", "127.0.0.1:6379", "--resume",
                     "--worker-logs", "--data-dir", str(tmp_path / "GLUE"), "--results-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 1, err
    matrix = asked.pop("matrix")
    assert matrix == sweep.Matrix(("mrpc",), ("tiny",), (1, 2, 3), {"epochs": 1}, 1, 0, 1, 3)
    assert asked == {"runs_dir": tmp_path / "runs", "aggregates_dir": tmp_path / "runs" / "aggregates",
                     "data_dir": str(tmp_path / "GLUE"), "address": "127.0.0.1:6379", "resume": True,
                     "worker_logs": True, "command": ["glue-repro", "sweep", "--the-command-line"]}
    assert "0.6500 +- 0.0707 (2" in out and f"aggregate: {tmp_path / 'agg.json'}" in out
    assert err.strip().splitlines()[-1] == "failed: mrpc/tiny/seed 3: train.tsv line 3: no label"


def test_a_multi_worker_sweep_leaves_tf_config_to_ray_and_a_sweep_without_failures_exits_0(tmp_path, monkeypatch):
    asked = []
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(sweep, "run", lambda matrix, *args, **kwargs: asked.append(matrix) or sweep.Outcome("s1"))
    assert cli.main(["sweep", "--tasks", "mrpc", "--presets", "tiny", "--seeds", "1", "--workers", "2",
                     "--results-dir", str(tmp_path / "runs")]) == 0
    assert [(m.workers, m.config(c).speed.strategy) for m in asked for c in m.cells()] == [(2, "multiworker")]


def test_an_interrupted_sweep_command_lists_what_finished_and_says_to_resume(tmp_path, monkeypatch, capsys):
    from tests.test_multiseed import _result

    def run(matrix, *args, **kwargs):
        outcome = sweep.Outcome("s1", aggregates=[tmp_path / "a1.json", tmp_path / "a2.json"])
        for cell in matrix.cells()[:2]:
            outcome.written[cell] = (_result(matrix.config(cell)), tmp_path / f"{cell.seed}.json")
        raise sweep.Interrupted(outcome)

    monkeypatch.setattr(sweep, "run", run)
    code = cli.main(["sweep", "--tasks", "mrpc", "--presets", "tiny", "--seeds", "1-3", "--results-dir",
                     str(tmp_path / "runs")])
    assert code == 130
    assert capsys.readouterr().err.splitlines() == [
        "glue-repro: interrupted; 2 of 3 cells finished", f"  mrpc/tiny/seed 1: {tmp_path / '1.json'}",
        f"  mrpc/tiny/seed 2: {tmp_path / '2.json'}", f"  aggregate: {tmp_path / 'a1.json'}",
        f"  aggregate: {tmp_path / 'a2.json'}",
        "run the same command with --resume to run the rest and write the aggregates"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--workers", "0"], "--workers 0: must be >= 1"), (["--retries", "-1"], "--retries -1: must be >= 0"),
    (["--cpus-per-run", "0"], "--cpus-per-run 0: must be >= 1"),
    (["--gpus-per-run", "-0.5"], "--gpus-per-run -0.5: must be >= 0"),
])
def test_resources_below_their_least_are_one_line(argv, message, capsys):
    assert cli.main(["sweep", "--tasks", "mrpc", "--presets", "tiny", "--seeds", "1", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"glue-repro: error: {message}"


def test_a_cell_hands_the_run_its_unpacked_files_quietly_and_notes_where_they_came_from(monkeypatch):
    """run_cell on stand-ins: the shipped files are unpacked in a temporary folder of the sweep's own name,
    the run reads them there with Keras quiet, and the result names the driver's folder, not the copy."""
    from glue_repro import run as run_module

    _ray_worker(monkeypatch)
    unpacked, asked = [], []

    class Bundle:
        origin = "/driver/glue/RTE"

        def unpack(self, folder):
            unpacked.append(folder)
            return folder / "RTE"

    def once(config, **kwargs):
        asked.append((config, kwargs))
        return None if kwargs["command"] == ["a worker"] else {"data": {"location": "copy"}, "cell": None}

    monkeypatch.setattr(run_module, "once", once)
    config = sweep.Matrix(("rte",), ("tiny",), (4,)).config(sweep.Cell("rte", "tiny", 4))
    result = sweep.run_cell(config.to_dict(), Bundle(), "s9", ["glue-repro", "sweep"])
    (folder,) = unpacked
    assert folder.name.startswith("glue-repro-cell-") and not folder.exists()  # removed once the run is done
    assert asked == [(config, {"data_dir": folder / "RTE", "verbose": 0, "command": ["glue-repro", "sweep"]})]
    assert result["data"] == {"location": "/driver/glue/RTE"} and result["cell"]["node_id"] == "node-7"
    asked.clear()
    assert sweep.run_cell(config.to_dict(), None, "s9", ["glue-repro", "sweep"])["data"] == {"location": "copy"}
    assert asked[0][1]["data_dir"] is None  # no files shipped: the run finds its own (GLUE_DIR or the Hub)
    assert sweep.run_cell(config.to_dict(), Bundle(), "s9", ["a worker"]) is None


def test_aggregates_reuse_each_group_already_aggregated_and_write_the_rest(tmp_path, monkeypatch):
    """A resumed sweep whose first group was aggregated before it stopped: that aggregate is reused, and the
    groups after it are still written."""
    from glue_repro import multiseed

    matrix = sweep.Matrix(("rte",), ("tiny", "quick"), (1, 2))
    outcome = sweep.Outcome("s1")
    for cell in matrix.cells():
        outcome.written[cell] = ({"seed": cell.seed}, tmp_path / f"{cell.preset}-{cell.seed}.json")
    first = frozenset((tmp_path / f"tiny-{s}.json").resolve() for s in (1, 2))
    monkeypatch.setattr(sweep, "_aggregated", lambda folder: {first: tmp_path / "tiny-aggregate.json"})
    written = []
    monkeypatch.setattr(multiseed, "write_aggregate", lambda runs, files, folder: written.append(files) or (
        None, folder / "quick-aggregate.json"))
    assert sweep.write_aggregates(matrix, outcome, tmp_path, print) == [
        tmp_path / "tiny-aggregate.json", tmp_path / "quick-aggregate.json"]
    assert written == [[tmp_path / "quick-1.json", tmp_path / "quick-2.json"]]
