"""Benchmark set-up: devices, storage per device under results/benchmarks/, machine info."""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from glue_repro import runtime  # noqa: E402  (the package sets the Keras 2 switch before TensorFlow loads)

# Both pipelines run in this one process, so both get the suite's runtime: the benchmark compares
# pipelines; whole runs (`glue-repro run --verbatim`) compare what each user gets.
runtime.prefer_onednn()

STORAGE = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def visible_devices() -> list[str]:
    """The CPU and every GPU TensorFlow sees, as device strings."""
    import tensorflow as tf

    return ["/CPU:0"] + [f"/GPU:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]


def device_class() -> str:
    """A folder name for this machine's devices: results are compared within one class."""
    from glue_repro.environment import device

    info = device()
    name = f"gpu-{info['gpus'][0]}" if info["gpus"] else f"cpu-{info['cpu']}-{info['cpu_cores']}cores"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def pytest_configure(config):
    # Mirrored benchmarks without a GPU need the CPU split into logical devices before TF starts.
    if "mirrored" in os.environ.get("GLUE_REPRO_BENCH_STRATEGIES", ""):
        from glue_repro.distribute import split_cpu

        split_cpu(int(os.environ.get("GLUE_REPRO_BENCH_CPU_REPLICAS", "2")))
    # Runs before pytest-benchmark opens its storage (its hook is trylast).
    if config.getoption("benchmark_storage", None) == "file://./.benchmarks":
        config.option.benchmark_storage = f"file://{STORAGE / device_class()}"


def pytest_benchmark_update_machine_info(config, machine_info):
    import tensorflow as tf

    from glue_repro.environment import device

    info = device()
    build = tf.sysconfig.get_build_info()
    gpus = []
    for i, gpu in enumerate(tf.config.list_physical_devices("GPU")):
        details = tf.config.experimental.get_device_details(gpu)
        try:
            memory = tf.config.experimental.get_memory_info(f"GPU:{i}")
        except (ValueError, RuntimeError):
            memory = None
        gpus.append({"name": details.get("device_name", gpu.name),
                     "compute_capability": details.get("compute_capability"), "memory": memory})
    machine_info["glue_repro"] = {
        "cpu_model": info["cpu"],
        "cpu_cores": info["cpu_cores"],
        "gpus": gpus,
        "tensorflow": tf.__version__,
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
        "onednn": info["onednn"],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "tf_xla_flags": os.environ.get("TF_XLA_FLAGS", ""),
        "bench_precision": os.environ.get("GLUE_REPRO_BENCH_PRECISION", "float32"),
    }


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    path = Path(os.environ.get("GLUE_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "glue_data"))
    if not (path / "MRPC").is_dir():
        pytest.fail(f"GLUE data not found at {path}; set GLUE_DIR to the GLUE folder")
    return path


_peaks: dict[tuple[str, str], float] = {}


@pytest.fixture
def peak_gflops():
    """Measured matmul peak per device and dtype, once per session."""
    from glue_repro.flops import matmul_peak_gflops

    def peak(device: str, dtype: str = "float32") -> float:
        if (device, dtype) not in _peaks:
            _peaks[device, dtype] = matmul_peak_gflops(device, dtype=dtype)
        return _peaks[device, dtype]

    return peak
