"""What machine and software a result came from: the one probe of the environment.

Every file the suite writes carries `provenance()`; `glue-repro devices` and the benchmarks'
machine info read the same functions.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TypedDict

CPUINFO = Path("/proc/cpuinfo")  # Linux's description of the CPU: its model name and flags
VERSIONED_PACKAGES = ("tensorflow", "tf-keras", "transformers", "datasets", "evaluate", "numpy", "scipy",
                      "safetensors", "tokenizers")


class Device(TypedDict):
    cpu: str  # CPU model name
    cpu_id: str | None  # vendor, family and model: tells apart CPU generations sold under one name (schema 8)
    vector_units: str | None  # the widest units oneDNN can use: AMX, AVX-512, AVX2 or SSE (schema 8)
    cpu_cores: int  # logical cores the process may use
    gpus: list[str] | None  # names of the GPUs TensorFlow sees (empty on CPU); None: TensorFlow not loaded
    onednn: bool | None  # TensorFlow's oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS); None: TensorFlow not loaded


class Git(TypedDict):
    commit: str | None  # HEAD of the suite's repository, None outside a checkout
    dirty: bool | None  # uncommitted changes in the checkout


def provenance() -> dict:
    """The code, libraries and machine behind a file: `git`, `versions`, `device`."""
    return {"git": git_info(), "versions": versions(), "device": device()}


def now() -> str:
    """UTC time, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Python and the libraries that decide the numbers."""
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def device() -> Device:
    """The CPU, and what TensorFlow sees when this process has loaded it (a command that loads no
    TensorFlow, such as `gate`, does not pay seconds to probe GPUs)."""
    loaded = "tensorflow" in sys.modules
    return Device(cpu=cpu_model(), cpu_id=cpu_id(), vector_units=vector_units(cpu_flags()),
                  cpu_cores=len(os.sched_getaffinity(0)), gpus=gpu_names() if loaded else None,
                  onednn=onednn_enabled() if loaded else None)


def gpu_names() -> list[str]:
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]


def cpu_model() -> str:
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpuinfo_field(name: str) -> str | None:
    """The first value of a field of Linux's CPU description; None where there is none to read."""
    try:
        found = re.search(rf"^{name}\s*:(.*)$", CPUINFO.read_text(), re.MULTILINE)
    except OSError:
        return None
    return found.group(1).strip() if found else None


def cpu_id() -> str | None:
    """Vendor, family and model, e.g. "AuthenticAMD family 25 model 1" (Zen 3) or "... model 17" (Zen 4)."""
    vendor, family, model = (_cpuinfo_field(n) for n in ("vendor_id", "cpu family", "model"))
    return f"{vendor} family {family} model {model}" if vendor and family and model else None


def cpu_flags() -> set[str]:
    return set((_cpuinfo_field("flags") or "").split())


def vector_units(flags: set[str]) -> str:
    """The widest matrix or vector units among a CPU's flags (Linux's names, as py-cpuinfo keeps them).

    >>> vector_units({"avx2", "avx512f", "amx_tile"}), vector_units({"avx2", "avx512f"}), vector_units({"avx2"})
    ('AMX', 'AVX-512', 'AVX2')
    """
    return "AMX" if "amx_tile" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16), as oneDNN needs to
    run a bfloat16 model faster than a float32 one. Elsewhere oneDNN emulates bfloat16, slower.

    Read from Linux's CPU flags; False where there are none to read.
    """
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def onednn_enabled() -> bool:
    """Whether TensorFlow, as imported in this process, runs its oneDNN kernels."""
    # TF's own tests ask the same private function; there is no public one.
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def git_info(where: Path = Path(__file__).parent) -> Git:
    def git(*args) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return Git(commit=commit, dirty=None if status is None else bool(status))
