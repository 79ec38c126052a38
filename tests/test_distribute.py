"""The recipe under tf.distribute, on the CPU: mirrored replicas, two real workers, lost workers, restarts.

Each run is its own process: TensorFlow splits the CPU into logical devices and joins a cluster
only before it first runs anything. The tiny model has no dropout, so a training step depends
on the weights and the global batch alone, and runs compare logit for logit. Tolerance: float32
sums in another order, 1e-5 absolute on logits that spread over about 1 between rows.
"""

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5
# A few steps that move the weights: 2 epochs x 4 global batches of 8, a learning rate 20x the recipe's.
STEPS = ["--preset", "tiny", "--limit", "32", "--epochs", "2", "--seed", "3", "--learning-rate", "1e-3",
         "--deterministic", "--verbose", "0"]


def _cli(launcher, folder, *argv, timeout=300):
    return launcher.run(argv, folder, timeout=timeout)


def _result(folder: Path) -> dict:
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def single(glue_dir, tmp_path_factory, launcher):
    """The same steps on one device: what every distributed run must match."""
    out = tmp_path_factory.mktemp("single")
    done = _cli(launcher, out.parent / "single-io", "run", *STEPS, "--data-dir", str(glue_dir), "--results-dir",
                str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return _result(out)


def _assert_same_training(got: dict, single: dict):
    logits, want = np.array(got["logits"]), np.array(single["logits"])
    assert logits.shape == want.shape == (32, 2)
    assert np.ptp(want, axis=0).min() > 100 * TOLERANCE  # the check can fail: logits differ between rows
    np.testing.assert_allclose(logits, want, atol=TOLERANCE, rtol=0)
    assert got["predictions"] == single["predictions"]
    assert got["history"]["loss"] == pytest.approx(single["history"]["loss"], rel=1e-5)


@pytest.mark.costly
def test_mirrored_over_two_cpu_devices_matches_one_device(glue_dir, tmp_path, single, launcher):
    done = _cli(launcher, tmp_path / "io", "run", *STEPS, "--strategy", "mirrored", "--cpu-replicas", "2",
                "--data-dir", str(glue_dir), "--results-dir", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr[-2000:]
    result = _result(tmp_path / "runs")
    assert result["distribution"] == {"strategy": "mirrored", "replicas": 2, "workers": 1, "worker_index": 0,
                                      "global_batch": 8, "per_replica_batch": 4}
    assert result["config"]["recipe"]["batch_size"] == 8  # the recipe's batch stays the global batch
    _assert_same_training(result, single)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(launcher, argv, tmp_path, n=2):
    """N workers of one cluster on 127.0.0.1, from a launcher in its own network namespace: TensorFlow's
    collective server listens on every interface whatever TF_CONFIG names."""
    ports = [_free_port() for _ in range(n)]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs = [], []
    for index in range(n):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        logs.append(tmp_path / f"worker{index}.log")
        procs.append(launcher.spawn(argv, logs[-1], env=env))
    assert os.readlink(f"/proc/{procs[0].pid}/ns/net") != os.readlink("/proc/self/ns/net")
    return procs, logs


@pytest.mark.costly
def test_two_workers_train_together_and_the_chief_alone_writes(glue_dir, tmp_path, single, isolated_launcher):
    out = tmp_path / "runs"
    start = time.monotonic()
    procs, logs = _workers(isolated_launcher, ["run", *STEPS, "--strategy", "multiworker", "--data-dir", str(glue_dir),
                            "--results-dir", str(out)], tmp_path)
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    assert time.monotonic() - start < 180
    result = _result(out)  # exactly one file
    assert result["distribution"] == {"strategy": "multiworker", "replicas": 2, "workers": 2, "worker_index": 0,
                                      "global_batch": 8, "per_replica_batch": 4}
    assert "the chief writes the result" in logs[1].read_text()
    _assert_same_training(result, single)


@pytest.mark.costly
def test_a_lost_worker_stops_the_others_with_one_line(glue_dir, tmp_path, isolated_launcher):
    out = tmp_path / "runs"
    argv = ["run", "--preset", "tiny", "--limit", "2000", "--epochs", "5", "--verbose", "2", "--strategy",
            "multiworker", "--data-dir", str(glue_dir), "--results-dir", str(out)]
    (chief, other), logs = _workers(isolated_launcher, argv, tmp_path)
    deadline = time.monotonic() + 180
    while "Epoch 1/5" not in logs[1].read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # well inside the first epoch's collectives
    other.send_signal(signal.SIGKILL)
    other.wait()
    lost_at = time.monotonic()
    assert chief.wait(timeout=120) == 2
    assert time.monotonic() - lost_at < 90
    text = logs[0].read_text()
    assert text.splitlines()[-1] == ("glue-repro: error: lost worker /job:worker/task:1: training stopped, "
                                     "no result written")
    assert "Traceback" not in text
    assert not out.exists() or not list(out.glob("*.json"))


@pytest.mark.costly
def test_a_killed_run_resumes_from_its_backup(glue_dir, tmp_path, launcher):
    """SIGKILL in the second of two epochs, then the same command: it resumes after epoch 1."""
    backup = tmp_path / "backup"
    argv = ["run", "--preset", "tiny", "--limit", "400", "--epochs", "2", "--seed", "5", "--deterministic",
            "--verbose", "2", "--data-dir", str(glue_dir), "--backup-dir", str(backup)]
    log = tmp_path / "first.log"
    log.touch()
    first = launcher.spawn([*argv, "--results-dir", str(tmp_path / "resumed")], log)
    deadline = time.monotonic() + 240
    while "Epoch 2/2" not in log.read_text() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (tmp_path / "resumed").exists()  # killed before its result

    done = _cli(launcher, tmp_path / "io", *argv, "--results-dir", str(tmp_path / "resumed"))
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = _result(tmp_path / "resumed")
    assert resumed["resumed_from_epoch"] == 1
    assert len(resumed["history"]["loss"]) == len(resumed["timing"]["epoch_seconds"]) == 1
    assert len(resumed["logits"]) == 400 and not any(np.isnan(resumed["logits"]).ravel())

    whole = _cli(launcher, tmp_path / "io", *argv, "--results-dir", str(tmp_path / "whole"), "--backup-dir",
                 str(tmp_path / "fresh"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    uninterrupted = _result(tmp_path / "whole")
    assert uninterrupted["resumed_from_epoch"] == 0
    # Not bit for bit: the backup holds the weights, the optimizer and the epoch, not the input
    # pipeline's shuffle state, so the resumed epoch sees the batches in another order (README).
    assert resumed["logits_sha256"] != uninterrupted["logits_sha256"]
    assert resumed["history"]["loss"] != uninterrupted["history"]["loss"][1:]


@pytest.mark.parametrize("tf_config, expected", [
    ({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "chief", "index": 0}}, (3, 0)),
    ({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": "1"}}, (3, 2)),
    ({"cluster": {"worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}, (2, 1)),
    ({"cluster": {"worker": ["b:1"]}}, "TF_CONFIG: missing 'task' (see the README: a cluster and this task)"),
    ({"cluster": {"worker": ["b:1"]}, "task": {"type": "worker", "index": 1}}, "TF_CONFIG: not a cluster and a task"),
    ("not json", "TF_CONFIG: not a cluster and a task of it (Expecting value"),
])
def test_tf_config_gives_the_workers_and_this_ones_index_chief_first(tf_config, expected, monkeypatch):
    from glue_repro import distribute
    from glue_repro.errors import GlueReproError

    monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    if isinstance(expected, tuple):
        assert distribute.cluster() == expected
    else:
        with pytest.raises(GlueReproError) as err:
            distribute.cluster()
        assert str(err.value).startswith(expected)


@pytest.mark.parametrize(("replicas", "gpus", "split_already", "expected"), [
    (2, [], None, 2),  # a fresh CPU: split in two
    (3, [], [object()] * 2, 3),  # split otherwise: split again
    (2, [], [object()] * 2, None),  # split already as asked: left alone
    (1, [], None, None),  # one replica needs no split
    (2, ["GPU:0"], None, None),  # GPUs are the replicas
])
def test_the_cpu_is_split_into_one_logical_device_a_replica_only_when_needed(replicas, gpus, split_already, expected,
                                                                             monkeypatch):
    import tensorflow as tf

    from glue_repro import distribute

    made = []
    devices = {"GPU": gpus, "CPU": ["CPU:0"]}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: devices[kind])
    monkeypatch.setattr(tf.config, "get_logical_device_configuration", lambda cpu: split_already)
    monkeypatch.setattr(tf.config, "set_logical_device_configuration", lambda cpu, configs: made.append((cpu, configs)))
    distribute.split_cpu(replicas)
    if expected is None:
        assert made == []
    else:
        ((cpu, configs),) = made
        assert cpu == "CPU:0" and len(configs) == expected
        assert all(isinstance(c, tf.config.LogicalDeviceConfiguration) for c in configs)


@pytest.mark.parametrize(("name", "tf_config", "replicas", "expected"), [
    ("default", None, 1, ("default", 1, 1, 0, 8, 8)),
    ("mirrored", None, 2, ("mirrored", 2, 1, 0, 8, 4)),
    ("multiworker", {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, 2,
     ("multiworker", 2, 2, 1, 8, 4)),
    ("multiworker", {"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}},
     3, None),  # 8 does not split over 3
])
def test_a_runs_placement_splits_the_global_batch_over_its_replicas(name, tf_config, replicas, expected, monkeypatch):
    import json
    from types import SimpleNamespace

    from glue_repro import distribute
    from glue_repro.errors import GlueReproError

    if tf_config:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    strategy = SimpleNamespace(num_replicas_in_sync=replicas)
    if expected is None:
        with pytest.raises(GlueReproError, match=r"^config field batch_size=8: must split evenly over the 3 replicas$"):
            distribute.placement(name, strategy, 8)
        return
    placed = distribute.placement(name, strategy, 8)
    assert (placed.strategy, placed.replicas, placed.workers, placed.worker_index, placed.global_batch,
            placed.per_replica_batch) == expected
    assert type(placed.per_replica_batch) is int  # stored in the result as 4, not 4.0
    assert placed.is_chief == (placed.worker_index == 0)
