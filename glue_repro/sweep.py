"""The GLUE matrix on Ray: one cell per (task, preset, seed), each a normal run of the recipe.

Ray schedules the cells over a cluster's nodes, each cell in a worker process of its own (a
fresh one per cell, so no TensorFlow state passes between cells). With no address the driver
starts a one-node cluster on this machine, on loopback only, and stops it at the end. The
driver ships each task's data files through Ray's object store, gets each result back and
writes it as `run` does: the nodes share no file system. A cell whose worker process or node
is lost runs again, up to `retries` times; a cell that fails in the recipe itself does not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from glue_repro import data, multiseed, results, schema
from glue_repro.config import RunConfig, from_dict, preset
from glue_repro.errors import GlueReproError

# A local cluster: node address and every listener on 127.0.0.1 (without it Ray swaps in the
# interface address), no usage statistics posted off the machine, token authentication on.
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
# What the driver's environment decides in a run, handed to every worker (on other nodes too).
FORWARDED_ENV = ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "HF_HUB_OFFLINE",
                 "HF_DATASETS_OFFLINE", "TRANSFORMERS_VERBOSITY", "HF_HUB_VERBOSITY", "XLA_FLAGS",
                 "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS")
LOST = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError", "LocalRayletDiedError",
        "ActorDiedError", "ActorUnavailableError")  # Ray's errors for a lost process or node: the cell runs again


@dataclass(frozen=True)
class Cell:
    task: str
    preset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.task}/{self.preset}/seed {self.seed}"


@dataclass(frozen=True)
class Matrix:
    """What a sweep runs: every task x preset x seed, each with the same run options."""

    tasks: tuple[str, ...]
    presets: tuple[str, ...]
    seeds: tuple[int, ...]
    changes: dict = field(default_factory=dict)  # config field -> value, applied to every cell
    cpus_per_run: int | None = None  # None: a whole node (its CPUs) per cell
    gpus_per_run: float = 0
    workers: int = 1  # > 1: each cell a multi-worker run through Ray Train
    retries: int = 2  # runs of a cell again after its process or node was lost

    def cells(self) -> list[Cell]:
        """Task by task (the order given), then preset, then seed: a task's aggregate is ready early."""
        return [Cell(t, p, s) for t in self.tasks for p in self.presets for s in self.seeds]

    def config(self, cell: Cell) -> RunConfig:
        threads = {"threads": self.cpus_per_run} if self.cpus_per_run else {}
        strategy = {"strategy": "multiworker"} if self.workers > 1 else {}
        return preset(cell.preset).replace(task=cell.task, seed=cell.seed, **self.changes, **threads, **strategy)


@dataclass
class Outcome:
    """Where each cell of a sweep stands."""

    sweep: str  # the sweep's id (see schema.Cell)
    written: dict = field(default_factory=dict)  # cell -> (result, path), run by this driver
    reused: dict = field(default_factory=dict)  # cell -> (result, path), found finished (--resume)
    failed: dict = field(default_factory=dict)  # cell -> why, one line
    aggregates: list = field(default_factory=list)  # paths written at the end

    def finished(self) -> dict:
        return self.reused | self.written


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: what finished before it."""

    def __init__(self, outcome: Outcome):
        super().__init__()
        self.outcome = outcome


def run(matrix: Matrix, runs_dir: Path, aggregates_dir: Path, data_dir=None, address: str | None = None,
        resume: bool = False, log=print, worker_logs: bool = False, command: list[str] | None = None) -> Outcome:
    """Run every cell not already finished, write each result as it arrives, then an aggregate per
    (task, preset) whose cells all finished.

    Args:
        address: a running Ray cluster to join (None: start one here, stop it at the end).
        resume: reuse each cell's healthy result of the same recipe in `runs_dir` (as `run --resume`).
        worker_logs: show the workers' output (Ray's) on the driver's.
    """
    cells = matrix.cells()
    outcome = Outcome(sweep=results.timestamp())
    if resume:
        outcome.reused = finished_cells(matrix, runs_dir)
        outcome.sweep = next((r["cell"]["sweep"] for r, _ in outcome.reused.values() if r.get("cell")), outcome.sweep)
        for cell, (_, path) in outcome.reused.items():
            log(f"{cell}: reusing {path}")
    todo = [c for c in cells if c not in outcome.reused]
    if todo:
        with cluster(address, worker_logs) as ray:
            signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's stop ends it as Ctrl-C does (after Ray's own)
            matrix = fitted(matrix, ray)
            log(f"sweep {outcome.sweep}: {len(todo)} cells to run on {describe(ray, matrix)}")
            try:
                _run_cells(ray, matrix, todo, outcome, runs_dir, data_dir, log, command)
            except Interrupted:
                outcome.aggregates = write_aggregates(matrix, outcome, aggregates_dir, log)  # groups that finished
                raise
    outcome.aggregates = write_aggregates(matrix, outcome, aggregates_dir, log)
    return outcome


def _run_cells(ray, matrix, todo, outcome, runs_dir, data_dir, log, command) -> None:
    """Keep every slot busy with the next cell, in order; write each result as it comes back."""
    bundles = {t: ray.put(data.bundle(t, data_dir)) for t in matrix.tasks}
    start = CellStarter(ray, matrix, outcome.sweep, bundles, command)
    waiting, running = [(cell, []) for cell in todo], {}  # cell, what was lost on its earlier tries
    progress = Progress(slots(ray, matrix), log)
    try:
        while waiting or running:
            while waiting and len(running) < progress.slots:  # Ray would start queued cells in any order
                cell, lost = waiting.pop(0)
                running[start(cell)] = (cell, lost)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1)  # short: Ctrl-C is seen between waits
            for ref in ready:
                cell, lost = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - every failure of a cell is reported, none stops the sweep
                    why = _reason(err)
                    if type(err).__name__ in LOST and len(lost) < matrix.retries:
                        log(f"{cell}: lost ({why}); running it again (try {len(lost) + 2} of {matrix.retries + 1})")
                        waiting.insert(0, (cell, [*lost, why]))
                        progress.slots = max(1, slots(ray, matrix))  # fewer if a node was lost
                    else:
                        outcome.failed[cell] = why
                        progress.failed(cell, why)
                    continue
                result["cell"] |= {"attempts": len(lost) + 1, "lost": lost}
                path = results.write_new(result, Path(runs_dir), results.run_stem(matrix.config(cell)))
                outcome.written[cell] = (result, path)
                progress.done(cell, result, path)
            left = [c.task for c, _ in running.values()] + [c.task for c, _ in waiting]
            progress.tick(left, changed=bool(ready))
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref, force=True)
        raise Interrupted(outcome) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _reason(err: Exception) -> str:
    """One line for a failed try: the recipe's own error as it says it, else Ray's first line."""
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, GlueReproError):
        return str(cause)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".strip()


def finished_cells(matrix: Matrix, runs_dir: Path) -> dict:
    """Cells with a result of the same recipe (collapsed ones too) from a sweep in `runs_dir`, the newest of each
    (a `run` outside any sweep is not a cell: a sweep's table holds its own runs)."""
    found = {}
    for task in matrix.tasks:
        for name in matrix.presets:
            done = multiseed.finished_runs(matrix.config(Cell(task, name, 0)), runs_dir)
            found |= {Cell(task, name, s): done[s] for s in matrix.seeds if s in done and done[s][0].get("cell")}
    return found


def write_aggregates(matrix: Matrix, outcome: Outcome, aggregates_dir: Path, log) -> list[Path]:
    """One aggregate per (task, preset) whose every seed finished, unless one of exactly those runs exists
    (a resumed sweep whose groups were aggregated before it stopped)."""
    finished, paths = outcome.finished(), []
    made = _aggregated(Path(aggregates_dir))
    for task in matrix.tasks:
        for name in matrix.presets:
            group = [Cell(task, name, s) for s in matrix.seeds]
            if not all(c in finished for c in group):
                log(f"{task}/{name}: no aggregate ({sum(c in finished for c in group)} of {len(group)} seeds finished)")
                continue
            runs, files = zip(*(finished[c] for c in group), strict=True)
            key = frozenset(Path(f).resolve() for f in files)
            if key in made:
                paths.append(made[key])
                continue
            paths.append(multiseed.write_aggregate(list(runs), list(files), Path(aggregates_dir))[1])
    return paths


def _aggregated(folder: Path) -> dict:
    """The aggregates in a folder, by the set of run files each lists."""
    made = {}
    for path in sorted(folder.glob("*.json")):
        try:
            aggregate = results.load(path, "aggregate")
        except GlueReproError:
            continue
        made[frozenset(p.resolve() for p in results.listed_runs(path, aggregate))] = path
    return made


class CellStarter:
    """Submits a cell to Ray: a task in a fresh worker process, or a Ray Train run over `workers`."""

    def __init__(self, ray, matrix: Matrix, sweep: str, bundles: dict, command):
        self.matrix, self.sweep, self.bundles, self.command = matrix, sweep, bundles, command
        env = {"env_vars": {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}}
        if matrix.workers > 1:  # the Ray Train run's own workers take the resources
            self.task = ray.remote(train_cell).options(num_cpus=0, max_retries=0, runtime_env=env)
        else:  # max_calls=1: a fresh process per cell
            self.task = ray.remote(max_calls=1)(run_cell).options(
                num_cpus=matrix.cpus_per_run, num_gpus=matrix.gpus_per_run, max_retries=0, runtime_env=env)

    def __call__(self, cell: Cell):
        args = (self.matrix.config(cell).to_dict(), self.bundles[cell.task], self.sweep, self.command)
        if self.matrix.workers > 1:
            m = self.matrix
            return self.task.remote(*args, m.workers, m.cpus_per_run, m.gpus_per_run, m.retries)
        return self.task.remote(*args)


def run_cell(config: dict, bundle: data.Bundle | None, sweep: str, command) -> schema.Result:
    """In a Ray worker process: one run on the shipped data; its result, unwritten, with where it ran."""
    import ray

    from glue_repro import runtime

    runtime.prefer_onednn()
    runtime.quiet_third_party()
    runtime.import_tensorflow_quietly()
    from glue_repro.run import once

    with tempfile.TemporaryDirectory(prefix="glue-repro-cell-") as tmp:
        data_dir = bundle.unpack(Path(tmp)) if bundle else None
        result = once(from_dict(config), data_dir=data_dir, verbose=0, command=command)
    if result is None:  # a worker other than the chief of a multi-worker run
        return None
    if bundle:
        result["data"]["location"] = bundle.origin  # where the driver read them; checksums as read here
    context = ray.get_runtime_context()
    result["cell"] = schema.Cell(sweep=sweep, node_id=context.get_node_id(), node_ip=ray.util.get_node_ip_address(),
                                 hostname=socket.gethostname(), attempts=1, lost=[], workers_at=None)
    return result


def train_cell(config: dict, bundle, sweep: str, command, workers: int, cpus: int, gpus: float,
               retries: int) -> schema.Result:
    """In a Ray task: one cell as a multi-worker run through Ray Train, which sets each worker's TF_CONFIG;
    the chief's result comes back through the object store."""
    import ray
    from ray.train import FailureConfig, ScalingConfig
    from ray.train import RunConfig as TrainRunConfig
    from ray.train.tensorflow import TensorflowTrainer

    inbox = ray.remote(Inbox).options(num_cpus=0).remote()
    per_worker = {"CPU": cpus} | ({"GPU": gpus} if gpus else {})
    with tempfile.TemporaryDirectory(prefix="glue-repro-train-") as storage:
        TensorflowTrainer(
            _train_loop,
            train_loop_config={"config": config, "bundle": bundle, "sweep": sweep, "command": command, "inbox": inbox},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=bool(gpus), resources_per_worker=per_worker),
            run_config=TrainRunConfig(name=f"glue-repro-{sweep}", storage_path=storage,
                                      failure_config=FailureConfig(max_failures=retries)),
        ).fit()
    result = ray.get(inbox.take.remote())
    if result is None:
        raise GlueReproError("the multi-worker run ended without its chief's result")
    return result


def _train_loop(loop: dict) -> None:
    """Each Ray Train worker: the run under TF_CONFIG; the chief hands its result to the inbox."""
    import ray

    result = run_cell(loop["config"], loop["bundle"], loop["sweep"], loop["command"])
    if result is not None:
        result["cell"]["workers_at"] = json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"]
        ray.get(loop["inbox"].put.remote(result))


class Inbox:
    """A Ray actor holding the chief's result of a Ray Train run until the driver takes it."""

    def __init__(self):
        self.result = None

    def put(self, result: dict) -> None:
        self.result = result

    def take(self):
        return self.result


class Progress:
    """Cells done, running, failed and waiting, and an estimate of the time left: when a cell ends,
    and every `every` seconds while none does."""

    every = 300

    def __init__(self, slots: int, log):
        self.slots, self.log = max(1, slots), log
        self.seconds, self.failures, self.last = {}, 0, time.monotonic()  # task -> wall seconds of its cells

    def done(self, cell, result: dict, path) -> None:
        self.seconds.setdefault(cell.task, []).append(result["wall_seconds"])
        where = result["cell"]["node_ip"] + (f", try {result['cell']['attempts']}" if result["cell"]["attempts"] > 1
                                             else "")
        scores = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items())
        self.log(f"{cell}: {scores}{' (collapsed)' if result['collapsed'] else ''} in "
                 f"{_duration(result['wall_seconds'])} on {where} -> {path}")

    def failed(self, cell, why: str) -> None:
        self.failures += 1
        self.log(f"{cell}: failed: {why}")

    def tick(self, left: list[str], changed: bool = True) -> None:
        """`left`: the task of each cell not finished, running ones first."""
        pending = len(left)
        if not pending or not (changed or time.monotonic() - self.last > self.every):
            return
        self.last = time.monotonic()
        running = min(pending, self.slots)
        finished = sum(len(v) for v in self.seconds.values())
        line = f"  {finished} done, {running} running, {self.failures} failed, {pending - running} waiting"
        if self.seconds:  # each cell left as long as its task's finished cells took, else as the mean cell
            every = [s for v in self.seconds.values() for s in v]
            mean = {task: sum(v) / len(v) for task, v in self.seconds.items()}
            guess = sum(mean.get(task, sum(every) / len(every)) for task in left)
            line += f"; about {_duration(guess / self.slots)} left"
        self.log(line)


def _duration(seconds: float) -> str:
    """
    >>> _duration(42.4), _duration(431), _duration(7300)
    ('42 s', '7 min 11 s', '2 h 1 min')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class cluster:  # noqa: N801 - used as `with cluster(...) as ray`
    """Ray, connected: to `address`, or to a one-node cluster started here on 127.0.0.1 and stopped at the end."""

    def __init__(self, address: str | None, worker_logs: bool = False):
        self.address, self.worker_logs = address, worker_logs

    def __enter__(self):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.address not in (None, "auto"):
            reachable(self.address)
        if self.address is None:
            os.environ.update(LOCAL_ENV)  # before Ray is imported: it reads them then
        try:
            import ray
        except ImportError:
            raise GlueReproError("sweep needs Ray: pip install 'glue-repro[ray]' (or 'ray[train]')") from None
        local = {"_node_ip_address": "127.0.0.1", "include_dashboard": False} if self.address is None else {}
        try:
            ray.init(address=self.address or "local", log_to_driver=self.worker_logs, logging_level="ERROR",
                     configure_logging=True, **local)
        except ConnectionError as err:
            raise GlueReproError(f"--address {self.address}: no Ray cluster there ({err})") from None
        return ray

    def __exit__(self, *exc):
        import ray

        ray.shutdown()


def reachable(address: str, timeout: float = 5.0) -> None:
    """Check that `address` is host:port (or ray://host:port) and that something answers there, so that
    a mistyped one is one line at once rather than Ray's minutes of retries.

    >>> reachable("10.0.0.5")
    Traceback (most recent call last):
    glue_repro.errors.GlueReproError: --address 10.0.0.5: give host:port (e.g. 10.0.0.5:6379), ray://host:port or auto
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GlueReproError(f"--address {address}: give host:port (e.g. 10.0.0.5:6379), ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise GlueReproError(f"--address {address}: nothing answers there ({err.strerror or err}); "
                             "is the head node started (ray start --head)?") from None

def fitted(matrix: Matrix, ray) -> Matrix:
    """The matrix with its CPUs per run decided (a whole node when not given) and checked against the nodes."""
    from dataclasses import replace

    largest = max(node_cpus(ray))
    if matrix.cpus_per_run is None:
        return replace(matrix, cpus_per_run=largest)
    if matrix.cpus_per_run > largest:
        raise GlueReproError(f"--cpus-per-run {matrix.cpus_per_run}: no node of the cluster has that many CPUs "
                             f"(the largest has {largest})")
    return matrix

def node_cpus(ray) -> list[int]:
    return [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]]

def slots(ray, matrix: Matrix) -> int:
    """How many cells run at once: per node, its CPUs over the cells' (Ray packs them so)."""
    per_cell = matrix.cpus_per_run * matrix.workers
    return sum(cpus // per_cell for cpus in node_cpus(ray))

def describe(ray, matrix: Matrix) -> str:
    nodes = node_cpus(ray)
    return (f"{len(nodes)} node{'s' if len(nodes) > 1 else ''} ({', '.join(map(str, nodes))} CPUs), "
            f"{matrix.cpus_per_run} CPU{'s' if matrix.cpus_per_run > 1 else ''} a run"
            + (f" x {matrix.workers} workers" if matrix.workers > 1 else "") + f": {slots(ray, matrix)} at once")
