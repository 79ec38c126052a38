"""The recipe under tf.distribute: the strategy, its replicas and workers, and who writes the result.

`default` is one device. `mirrored` keeps a copy of the model on every local GPU, or, with no
GPU, on `cpu_replicas` logical devices the CPU is split into (the same code path, testable on
a CPU-only machine). `multiworker` reads the standard `TF_CONFIG` and runs
`MultiWorkerMirroredStrategy`: every worker trains, the chief alone writes the result.
The batch size stays the global batch of the recipe, split across replicas.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from glue_repro.errors import GlueReproError

STRATEGIES = ("default", "mirrored", "multiworker")
# A collective that waits longer than this for a peer fails: how long a lost worker can stall the others.
COLLECTIVE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Placement:
    """Where a run trains; stored in the result."""

    strategy: str  # "default", "mirrored" or "multiworker"
    replicas: int  # model copies over all workers
    workers: int  # processes training together (1 unless multiworker)
    worker_index: int  # this process among them
    global_batch: int  # the recipe's batch size: examples per optimizer step over all replicas
    per_replica_batch: int  # global_batch / replicas

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0


def cluster() -> tuple[int, int]:
    """(workers, this worker's index) from TF_CONFIG; the chief, if named, is index 0."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        spec, me = config["cluster"], config["task"]
        order = [(kind, i) for kind in ("chief", "worker") for i in range(len(spec.get(kind, [])))]
        return len(order), order.index((me["type"], int(me["index"])))
    except KeyError as err:
        raise GlueReproError(f"TF_CONFIG: missing {err} (see the README: a cluster and this task)") from None
    except (ValueError, TypeError) as err:
        raise GlueReproError(f"TF_CONFIG: not a cluster and a task of it ({err})") from None


def check(strategy: str, cpu_replicas: int, batch_size: int, xla: bool = False) -> None:
    """What can be checked before TensorFlow loads."""
    if cpu_replicas > 1 and xla:
        raise GlueReproError("config field xla=True: XLA-compiled steps cannot reach variables on the other "
                             f"logical CPU devices of config field cpu_replicas={cpu_replicas}; turn xla off")
    if strategy == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise GlueReproError("config field strategy='multiworker': TF_CONFIG is not set (it names the cluster "
                                 "and this worker)")
        cluster()
    if strategy == "default" and cpu_replicas > 1:
        raise GlueReproError(f"config field cpu_replicas={cpu_replicas}: only with config field strategy='mirrored'")
    if batch_size % cpu_replicas:
        raise GlueReproError(f"config field batch_size={batch_size}: must split evenly over "
                             f"config field cpu_replicas={cpu_replicas}")


def split_cpu(replicas: int) -> None:
    """Split the CPU into logical devices for a mirrored run without GPUs (before TF initializes)."""
    import tensorflow as tf

    if replicas > 1 and not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        if len(tf.config.get_logical_device_configuration(cpu) or []) != replicas:  # not split already
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)


def make_strategy(strategy: str, cpu_replicas: int = 1):
    """The tf.distribute strategy; create it before any other TensorFlow work of the run."""
    import tensorflow as tf

    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        split_cpu(cpu_replicas)
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        return tf.distribute.MirroredStrategy(devices or [d.name for d in tf.config.list_logical_devices("CPU")])
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def placement(strategy_name: str, strategy, batch_size: int) -> Placement:
    workers, index = cluster() if strategy_name == "multiworker" else (1, 0)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise GlueReproError(f"config field batch_size={batch_size}: must split evenly over the {replicas} replicas")
    return Placement(strategy_name, replicas, workers, index, batch_size, batch_size // replicas)


def lost_worker(error: Exception) -> str:
    """One line for a collective that failed because a peer went away, naming the peer when TF does.

    >>> lost_worker(RuntimeError("op on /job:worker/replica:0/task:0 aborted: The following tasks are "
    ...                          "unhealthy (stopped sending heartbeats):\\n/job:worker/replica:0/task:1"))
    'lost worker /job:worker/task:1: training stopped, no result written'
    >>> lost_worker(RuntimeError("unhealthy: /job:worker/replica:0/task:2 /job:worker/replica:0/task:1 (unhealthy)"))
    'lost worker /job:worker/task:2, /job:worker/task:1: training stopped, no result written'
    >>> lost_worker(RuntimeError("collective on /job:worker/replica:0/task:0 failed: connection reset"))
    'lost a worker: training stopped, no result written'
    """
    text = str(error)
    _, marker, after = text.partition("unhealthy")
    tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", after if marker else "")
    names = ", ".join(dict.fromkeys(f"/job:{job}/task:{index}" for job, index in tasks))
    return f"lost worker {names}: training stopped, no result written" if names else (
        "lost a worker: training stopped, no result written")


def is_peer_failure(err: Exception) -> bool:
    """A collective op that failed because another worker stopped answering."""
    import tensorflow as tf

    return isinstance(err, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
                            tf.errors.AbortedError, tf.errors.InternalError))
